"""Retrieval evaluation of binary codes: precision@k (two tie rules), mAP, and P/R within a radius.

Protocol (VDSH / NASH, see docs): the train split's codes are the database, the test split's codes
the queries. A database document is *relevant* to a query when their label sets intersect (this
covers single- and multi-label corpora alike). Scores are means over **all** queries; a query
without labels scores 0 and still counts.

Retrieval goes through :class:`nash_index.FlatIndex`, whose results are sorted by
``(distance, id)``. With few bits many documents share the k-th distance, so the tie rule matters;
:func:`precision_at_k` therefore reports two numbers:

* ``index_order``: the index's deterministic rule, ties broken by ascending database id;
* ``expected``: the exact expected precision when ties are broken uniformly at random. If the k-th
  neighbour lies at distance ``d``, all documents closer than ``d`` are retrieved, and of the ``m``
  documents at exactly ``d`` (``r`` of them relevant) the ``s`` remaining slots take a random
  subset, which contributes ``s * r / m`` relevant documents in expectation.

Labels may be given as a bool/0-1 indicator matrix (n, n_labels), dense or scipy.sparse, or as a
1-D integer class vector (single-label; a negative value means "no label").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from ..checks import check_positive_int
from ..index import FlatIndex
from ..index.validation import as_code_rows, check_radius
from .labels import as_indicator

__all__ = [
    "PrecisionAtK",
    "PrecisionRecall",
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_within_radius",
]

_QUERY_BATCH = 256  # queries per index call: bounds the memory of k = |database| searches


@dataclass(frozen=True)
class PrecisionAtK:
    """Mean precision@k under both tie rules, plus the per-query values."""

    index_order: float
    expected: float
    k: int
    per_query_index_order: np.ndarray
    per_query_expected: np.ndarray

    def __iter__(self) -> Iterator[float]:
        # allows ``p_index, p_expected = precision_at_k(...)``
        return iter((self.index_order, self.expected))

    def __repr__(self) -> str:
        # the dataclass repr prints both per-query arrays in full: thousands of numbers
        return (f"PrecisionAtK(k={self.k}, index_order={self.index_order:.4f}, expected={self.expected:.4f}, "
                f"queries={len(self.per_query_index_order)})")


@dataclass(frozen=True)
class PrecisionRecall:
    """Mean precision and recall of the documents within a Hamming radius."""

    precision: float
    recall: float
    radius: int
    per_query_precision: np.ndarray
    per_query_recall: np.ndarray

    def __iter__(self) -> Iterator[float]:
        return iter((self.precision, self.recall))


# ----------------------------------------------------------------------------- input checks


def _prepare(db_codes: Any, db_labels: Any, query_codes: Any, query_labels: Any
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # any code width, the two sides' compared below; a strided view is copied (evaluation, not a database)
    db = as_code_rows(db_codes, None, "db_codes", copy=True)
    q = as_code_rows(query_codes, None, "query_codes", copy=True)
    if db.shape[1] != q.shape[1]:
        raise ValueError(f"db_codes have {db.shape[1]} bytes per code but query_codes {q.shape[1]}")
    if db.shape[0] == 0:
        raise ValueError("the database (db_codes) is empty")
    dbl = as_indicator(db_labels, db.shape[0], "db_labels")
    ql = as_indicator(query_labels, q.shape[0], "query_labels")
    # 1-D class ids may yield different widths; pad both to the same number of label columns
    width = max(dbl.shape[1], ql.shape[1])
    dbl = np.pad(dbl, ((0, 0), (0, width - dbl.shape[1])))
    ql = np.pad(ql, ((0, 0), (0, width - ql.shape[1])))
    return db, dbl, q, ql


def _build_index(db: np.ndarray) -> FlatIndex:
    index = FlatIndex(db.shape[1] * 8)
    index.add(db)
    return index


def _label_words(labels: np.ndarray) -> np.ndarray:
    """Label indicator rows (n, L) packed into 64-bit words (n, ceil(L / 64)): relevance of a pair
    is then one AND of words, not a gather of L booleans (the hot path of early stopping)."""
    packed = np.packbits(labels.astype(bool, copy=False), axis=1)
    width = max(1, -(-packed.shape[1] // 8)) * 8
    packed = np.pad(packed, ((0, 0), (0, width - packed.shape[1])))
    return np.ascontiguousarray(packed).view(np.uint64)


def _pair_relevance(db_words: np.ndarray, q_words: np.ndarray, q_rows: np.ndarray, db_ids: np.ndarray) -> np.ndarray:
    """rel[t] = labels of query q_rows[t] and database doc db_ids[t] intersect (same shapes);
    labels as packed by :func:`_label_words`."""
    if db_words.shape[1] == 1:  # up to 64 labels: one word per document
        return (db_words[db_ids, 0] & q_words[q_rows, 0]) != 0
    out = np.zeros(db_ids.shape, dtype=bool)
    flat_q, flat_d, flat_out = q_rows.ravel(), db_ids.ravel(), out.ravel()
    step = max(1, (1 << 22) // db_words.shape[1])  # bound the temporary (pairs x words)
    for start in range(0, flat_d.size, step):
        sl = slice(start, start + step)
        flat_out[sl] = np.any(db_words[flat_d[sl]] & q_words[flat_q[sl]], axis=1)
    return out


def _n_relevant(db_labels: np.ndarray, q_labels: np.ndarray) -> np.ndarray:
    """Number of relevant database documents for every query."""
    dbf = db_labels.astype(np.float32)
    out = np.empty(q_labels.shape[0], dtype=np.int64)
    for start in range(0, q_labels.shape[0], _QUERY_BATCH):
        block = q_labels[start:start + _QUERY_BATCH].astype(np.float32) @ dbf.T
        out[start:start + _QUERY_BATCH] = (block > 0).sum(axis=1)
    return out


# ----------------------------------------------------------------------------- precision@k


def _expected_hits(index: FlatIndex, q: np.ndarray, kth: np.ndarray, k: int,
                   db_words: np.ndarray, q_words: np.ndarray) -> np.ndarray:
    """Expected relevant count in the top k under random tie order, per query.

    ``kth[i]`` is query i's k-th smallest distance; one range search at that radius returns the
    documents strictly closer (all retrieved) and the whole tied block at the boundary.
    """
    hits = np.zeros(q.shape[0], dtype=np.float64)
    for radius in np.unique(kth):
        rows_all = np.flatnonzero(kth == radius)
        for start in range(0, rows_all.size, _QUERY_BATCH):
            rows = rows_all[start:start + _QUERY_BATCH]
            lims, dist, ids = index.range_search(q[rows], int(radius))
            seg = np.repeat(np.arange(rows.size), np.diff(lims))
            rel = _pair_relevance(db_words, q_words, rows[seg], ids)
            closer = dist < radius
            n_lt = np.bincount(seg, weights=closer, minlength=rows.size)
            r_lt = np.bincount(seg, weights=closer & rel, minlength=rows.size)
            m = np.bincount(seg, weights=~closer, minlength=rows.size)
            r_eq = np.bincount(seg, weights=~closer & rel, minlength=rows.size)
            slots = k - n_lt  # >= 1, since the k-th neighbour lies in the tied block
            hits[rows] = r_lt + slots * r_eq / m
    return hits


def precision_at_k(db_codes: Any, db_labels: Any, query_codes: Any, query_labels: Any, k: int = 100
                   ) -> PrecisionAtK:
    """Mean precision of the ``k`` Hamming-nearest database codes over all queries.

    Precision of one query = (relevant documents among the k retrieved) / k; the denominator is
    always ``k``. If ``k`` exceeds the database size every document is retrieved, both tie rules
    agree, and precision = (relevant documents in the database) / k (so it cannot reach 1);
    pass ``k=min(k, n_db)`` for the AMMI convention instead.

    Returns a :class:`PrecisionAtK`; ``p_index, p_expected = precision_at_k(...)`` also works.
    """
    k = check_positive_int(k, "k")
    db, dbl, q, ql = _prepare(db_codes, db_labels, query_codes, query_labels)
    dbw, qw = _label_words(dbl), _label_words(ql)
    if q.shape[0] == 0:
        raise ValueError("no queries (query_codes is empty)")
    index = _build_index(db)
    k_eff = min(k, db.shape[0])
    hits_idx = np.zeros(q.shape[0], dtype=np.float64)
    kth = np.zeros(q.shape[0], dtype=np.int64)
    for start in range(0, q.shape[0], _QUERY_BATCH):
        sl = slice(start, start + _QUERY_BATCH)
        dist, ids = index.search(q[sl], k_eff)
        rows = np.arange(q.shape[0])[sl]
        rel = _pair_relevance(dbw, qw, np.broadcast_to(rows[:, None], ids.shape), ids)
        hits_idx[sl] = rel.sum(axis=1)
        kth[sl] = dist[:, -1]
    if k_eff < k or k_eff == db.shape[0]:
        hits_exp = hits_idx.copy()  # everything is retrieved: no boundary block to choose from
    else:
        hits_exp = _expected_hits(index, q, kth, k, dbw, qw)
    p_idx, p_exp = hits_idx / k, hits_exp / k
    return PrecisionAtK(float(p_idx.mean()), float(p_exp.mean()), k, p_idx, p_exp)


# ----------------------------------------------------------------------------- mAP


def mean_average_precision(db_codes: Any, db_labels: Any, query_codes: Any, query_labels: Any,
                           k: Optional[int] = None) -> float:
    """Mean average precision of the Hamming ranking (ties by ascending database id).

    AP of one query = mean of precision@j over the ranks j (<= ``k``; default the whole database)
    that hold a relevant document. With ``k=None`` this is the usual AP over all relevant
    documents; with ``k`` set it is the hashing literature's mAP@k (normalised by the relevant
    documents found in the top k). A query with no relevant document retrieved scores 0.
    """
    db, dbl, q, ql = _prepare(db_codes, db_labels, query_codes, query_labels)
    dbw, qw = _label_words(dbl), _label_words(ql)
    if q.shape[0] == 0:
        raise ValueError("no queries (query_codes is empty)")
    depth = db.shape[0] if k is None else min(check_positive_int(k, "k"), db.shape[0])
    index = _build_index(db)
    ranks = np.arange(1, depth + 1, dtype=np.float64)
    total = 0.0
    for start in range(0, q.shape[0], _QUERY_BATCH):
        sl = slice(start, start + _QUERY_BATCH)
        _, ids = index.search(q[sl], depth)
        rows = np.arange(q.shape[0])[sl]
        rel = _pair_relevance(dbw, qw, np.broadcast_to(rows[:, None], ids.shape), ids)
        prec = np.cumsum(rel, axis=1) / ranks
        n_rel = rel.sum(axis=1)
        ap = np.divide((prec * rel).sum(axis=1), n_rel, out=np.zeros(n_rel.shape), where=n_rel > 0)
        total += float(ap.sum())
    return total / q.shape[0]


# ----------------------------------------------------------------------------- radius


def precision_recall_within_radius(db_codes: Any, db_labels: Any, query_codes: Any, query_labels: Any,
                                   radius: int = 2) -> PrecisionRecall:
    """Precision and recall of the database documents within Hamming distance ``radius`` (inclusive).

    Per query: precision = relevant retrieved / retrieved (0 when nothing is retrieved, the usual
    convention, which penalises long codes whose balls are empty); recall = relevant retrieved /
    relevant in the database (0 when the database holds none). Both are averaged over all queries.
    """
    radius = check_radius(radius)
    db, dbl, q, ql = _prepare(db_codes, db_labels, query_codes, query_labels)
    dbw, qw = _label_words(dbl), _label_words(ql)
    if q.shape[0] == 0:
        raise ValueError("no queries (query_codes is empty)")
    index = _build_index(db)
    retrieved = np.zeros(q.shape[0])
    found = np.zeros(q.shape[0])
    for start in range(0, q.shape[0], _QUERY_BATCH):
        rows = np.arange(start, min(start + _QUERY_BATCH, q.shape[0]))
        lims, _, ids = index.range_search(q[rows], int(radius))
        seg = np.repeat(np.arange(rows.size), np.diff(lims))
        rel = _pair_relevance(dbw, qw, rows[seg], ids)
        retrieved[rows] = np.diff(lims)
        found[rows] = np.bincount(seg, weights=rel, minlength=rows.size)
    n_rel = _n_relevant(dbl, ql)
    prec = np.divide(found, retrieved, out=np.zeros_like(found), where=retrieved > 0)
    rec = np.divide(found, n_rel, out=np.zeros_like(found), where=n_rel > 0)
    return PrecisionRecall(float(prec.mean()), float(rec.mean()), int(radius), prec, rec)
