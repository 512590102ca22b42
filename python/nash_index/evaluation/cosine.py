"""Precision@k of exact float search: the ceiling that codes are measured against.

The same protocol as :func:`~nash_index.evaluation.precision_at_k` (database = the training
documents, one query per row, relevant = shares a label), but neighbours are ranked by the cosine
of the float vectors themselves (TF-IDF rows or embeddings): no hashing, no Hamming ties. Equal
cosines are ranked by ascending database id, like the index order of the Hamming metric.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..index.validation import check_positive_int
from .labels import as_indicator

__all__ = ["cosine_precision_at_k"]

_QUERY_BATCH = 512


def _unit_rows(M: Any) -> Any:
    if sp.issparse(M):
        M = sp.csr_matrix(M, dtype=np.float64)
        norms = np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).ravel())
        return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ M
    M = np.asarray(M, dtype=np.float64)
    return M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)


def cosine_precision_at_k(db_vectors: Any, db_labels: Any, query_vectors: Any, query_labels: Any,
                          k: int = 100) -> float:
    """Mean precision of the ``k`` most cosine-similar database rows over all queries.

    Vectors: dense arrays or scipy.sparse matrices with the same number of columns; labels as
    for ``precision_at_k`` (a 0/1 indicator matrix or integer class ids). ``k`` above the database
    size retrieves everything (the denominator stays ``k``).
    """
    k = check_positive_int(k, "k")
    if db_vectors.shape[1] != query_vectors.shape[1]:
        raise ValueError(f"query_vectors have {query_vectors.shape[1]} columns, db_vectors {db_vectors.shape[1]}")
    n_db, n_q = db_vectors.shape[0], query_vectors.shape[0]
    if n_q == 0 or n_db == 0:
        raise ValueError("cosine_precision_at_k needs at least one query and one database row")
    dbl = as_indicator(db_labels, n_db, "db_labels").astype(np.float32)
    ql = as_indicator(query_labels, n_q, "query_labels").astype(np.float32)
    if dbl.shape[1] != ql.shape[1]:
        width = max(dbl.shape[1], ql.shape[1])  # class ids: pad the narrower one-hot matrix
        dbl, ql = (np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in (dbl, ql))
    D, Q = _unit_rows(db_vectors), _unit_rows(query_vectors)
    k_eff = min(k, n_db)
    hits = 0.0
    for start in range(0, n_q, _QUERY_BATCH):
        sims = Q[start:start + _QUERY_BATCH] @ D.T
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k_eff]  # stable: ties by ascending id
        relevant = (ql[start:start + _QUERY_BATCH] @ dbl.T) > 0
        hits += float(np.take_along_axis(relevant, top, axis=1).sum())
    return hits / (k * n_q)
