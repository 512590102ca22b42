"""Exact TF-IDF cosine top-k of a few hundred queries over a database streamed in blocks.

``nash_index.evaluation.cosine_top_k`` needs the whole database's rows in memory (10^7 TF-IDF rows
are tens of GB); here the database arrives block by block (each vectorized, used, dropped) and each
query keeps its running top-k. The result is the same as the whole-matrix rule: descending cosine,
ties by ascending database row, exactly (the k-th place of each block is resolved by index order,
not by whatever ``argpartition`` picks among equal scores).
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import scipy.sparse as sp

from nash_index.evaluation import unit_rows


class StreamedCosineTopK:
    """``add(block_rows)`` for each database block in order, then ``ids`` / ``scores``
    ((nq, k) int64 / float64, by descending cosine, ties by ascending row)."""

    def __init__(self, query_rows: Any, k: int) -> None:
        self.queries_T = sp.csc_matrix(unit_rows(query_rows)).T.tocsr()  # (d, nq): rows . queries
        self.k = int(k)
        nq = query_rows.shape[0]
        self.scores = np.zeros((nq, 0), dtype=np.float64)
        self.ids = np.zeros((nq, 0), dtype=np.int64)
        self.seen = 0

    def add(self, block_rows: Any) -> None:
        """The next ``block_rows.shape[0]`` database rows (TF-IDF CSR or dense)."""
        n = block_rows.shape[0]
        if n == 0:
            return
        prod = unit_rows(block_rows) @ self.queries_T  # (n, nq): sparse x sparse, few shared terms
        scores = (prod.toarray() if sp.issparse(prod) else np.asarray(prod)).T.astype(np.float64)
        top_ids, top_scores = _block_top_k(scores, self.k)
        self._merge(top_ids + self.seen, top_scores)
        self.seen += n

    def _merge(self, ids: np.ndarray, scores: np.ndarray) -> None:
        # The kept rows all precede this block's, and each side is in (score desc, row asc) order
        # or row order: a stable sort of -score over [kept, block] keeps ties by ascending row.
        all_scores = np.concatenate([self.scores, scores], axis=1)
        all_ids = np.concatenate([self.ids, ids], axis=1)
        order = np.argsort(-all_scores, axis=1, kind="stable")[:, :self.k]
        self.scores = np.take_along_axis(all_scores, order, axis=1)
        self.ids = np.take_along_axis(all_ids, order, axis=1)


def _block_top_k(scores: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Each row's ``min(k, n)`` best columns, in ascending column order: every score above the k-th
    largest, then the first columns equal to it (ties by index)."""
    nq, n = scores.shape
    if n <= k:
        return np.broadcast_to(np.arange(n), (nq, n)).copy(), scores
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(axis=1, keepdims=True)
    keep = above | (tied & (np.cumsum(tied, axis=1) <= room))
    rows, cols = np.nonzero(keep)  # row-major: each row's columns ascending, exactly k of them
    cols = cols.reshape(nq, k)
    return cols, np.take_along_axis(scores, cols, axis=1)


def label_precision(top_ids: np.ndarray, db_labels: np.ndarray, query_labels: np.ndarray, k: int) -> float:
    """Mean |relevant among each query's ``top_ids``| / ``k`` for single-label corpora (integer
    classes, negative = no label): relevant means the same class, the rule of
    ``nash_index.evaluation`` for one label each. ``db_labels`` may be a memory map (only the
    retrieved rows are read)."""
    found = np.asarray(db_labels[top_ids.ravel()]).reshape(top_ids.shape)
    q = np.asarray(query_labels)[:, None]
    hits = ((found == q) & (q >= 0)).sum()
    return float(hits) / (top_ids.shape[0] * int(k))
