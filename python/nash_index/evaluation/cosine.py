"""Precision@k of exact float cosine, by brute force: the unhashed reference for codes.

Not necessarily an upper bound: learned codes can beat raw TF-IDF cosine on label precision.

Rows (TF-IDF, sparse, or dense embeddings) are L2-normalised (a zero row has cosine 0 with
everything); queries are scored against the whole database in blocks by one matrix product each,
and each query keeps its ``k`` documents of highest cosine, ties broken by ascending database
index (the index's own tie rule). Relevant = the label sets intersect, as in
:func:`nash_index.evaluation.precision_at_k`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..checks import check_positive_int, unit_rows
from .labels import as_indicator

__all__ = ["cosine_precision_at_k", "cosine_top_k", "unit_rows"]  # unit_rows: re-exported from nash_index.checks

_BLOCK = 256  # queries per matrix product: bounds the dense (block, n_db) score matrix


def cosine_top_k(X_db: Any, X_q: Any, k: int, block: int = _BLOCK) -> np.ndarray:
    """int64 (nq, min(k, n_db)): each query's database rows by descending cosine, ties by
    ascending row index."""
    db, q = unit_rows(X_db), unit_rows(X_q)
    if db.shape[1] != q.shape[1]:
        raise ValueError(f"database rows have {db.shape[1]} columns but queries {q.shape[1]}")
    k = min(int(k), db.shape[0])
    out = np.empty((q.shape[0], k), dtype=np.int64)
    dbT = db.T.tocsc() if sp.issparse(db) else db.T
    for start in range(0, q.shape[0], block):
        scores = q[start:start + block] @ dbT
        scores = scores.toarray() if sp.issparse(scores) else np.asarray(scores)
        # a stable sort of -cosine keeps equal cosines in ascending index order
        out[start:start + block] = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return out


def cosine_precision_at_k(X_db: Any, y_db: Any, X_q: Any, y_q: Any, k: int = 100, block: int = _BLOCK) -> float:
    """Mean over queries of |relevant among the top ``k`` by exact cosine| / ``k``."""
    k = check_positive_int(k, "k")
    if X_db.shape[0] == 0:
        raise ValueError("the database is empty")
    db_labels = as_indicator(y_db, X_db.shape[0], "db_labels")
    q_labels = as_indicator(y_q, X_q.shape[0], "query_labels")
    width = max(db_labels.shape[1], q_labels.shape[1])
    db_labels = np.pad(db_labels, ((0, 0), (0, width - db_labels.shape[1]))).astype(bool)
    q_labels = np.pad(q_labels, ((0, 0), (0, width - q_labels.shape[1]))).astype(bool)
    if X_q.shape[0] == 0:
        raise ValueError("no queries")
    top = cosine_top_k(X_db, X_q, k, block)
    hits = 0
    for start in range(0, top.shape[0], block):
        ids = top[start:start + block]
        rel = np.any(db_labels[ids] & q_labels[start:start + block, None, :], axis=2)
        hits += int(rel.sum())
    return hits / (top.shape[0] * int(k))
