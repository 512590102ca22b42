"""Rescoring: Hamming candidates from an index, re-ranked by exact cosine on the float vectors.

The standard recipe of binary retrieval (sentence-transformers and Cohere report 92-96% of float
quality with it): search the codes for ``candidates`` neighbours, then order them by the cosine
of the float vectors, which the codes only approximate.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np

from ..checks import as_numpy, check_positive_int, unit_rows
from .base import BaseIndex
from .validation import check_k

__all__ = ["RescoredResult", "rescore", "unit_rows"]  # unit_rows: re-exported from nash_index.checks

#: Candidates per result when ``candidates`` is not given (sentence-transformers' default multiplier).
DEFAULT_MULTIPLIER = 4


class RescoredResult(NamedTuple):
    """``scores`` float32 (nq, k): cosine similarities, each row descending (ties by id);
    ``ids`` int64 (nq, k). Rows are padded with id -1 and score -inf when fewer than k candidates."""

    scores: np.ndarray
    ids: np.ndarray


def _float_rows(x: Any, name: str, ndim: int) -> np.ndarray:
    arr = as_numpy(x, name, "a float numpy array")
    if arr.ndim == 1 and ndim == 2 and name == "query_vectors":
        arr = arr[None, :]
    if arr.ndim != ndim or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a 2-D float array, got shape {arr.shape} and dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def rescore(index: BaseIndex, query_codes: Any, query_vectors: Any, vectors: Any, k: int, *,
            candidates: Optional[int] = None, num_threads: Optional[int] = None) -> RescoredResult:
    """The k best of ``candidates`` Hamming neighbours (default ``4 * k``), by exact cosine.

    ``query_codes``: packed codes of the queries (what ``index.search`` takes);
    ``query_vectors``: their float vectors (nq, d); ``vectors``: the float vector of every indexed
    id, row ``id`` (nmax, d) with every stored id < nmax (the default ids 0..n-1 do). More
    candidates approach the float ranking at the cost of more dot products.
    """
    queries = unit_rows(_float_rows(query_vectors, "query_vectors", 2))
    k = check_k(k, queries.shape[0])
    candidates = DEFAULT_MULTIPLIER * k if candidates is None else check_positive_int(candidates, "candidates")
    if candidates < k:
        raise ValueError(f"candidates must be >= k ({k}), got {candidates}")
    ntotal = getattr(index, "ntotal", None)
    if ntotal is not None:  # more candidates than codes only pads the rows
        candidates = max(k, min(candidates, int(ntotal)))
    candidates = check_k(candidates, queries.shape[0], "candidates")
    table = _float_rows(vectors, "vectors", 2)
    if table.shape[1] != queries.shape[1]:
        raise ValueError(f"vectors have {table.shape[1]} dimensions, query_vectors {queries.shape[1]}")
    hits = index.search(query_codes, candidates, num_threads=num_threads).ids
    if hits.shape[0] != queries.shape[0]:
        raise ValueError(f"query_codes has {hits.shape[0]} rows, query_vectors {queries.shape[0]}")
    if hits.size and int(hits.max()) >= table.shape[0]:
        raise ValueError(f"vectors has {table.shape[0]} rows but the index holds id {int(hits.max())}: "
                         "row i of vectors must be the vector of id i")
    scores = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
    ids = np.full((queries.shape[0], k), -1, dtype=np.int64)
    for q, row in enumerate(hits):
        found = row[row >= 0]
        sims = unit_rows(table[found]) @ queries[q]
        order = np.lexsort((found, -sims))[:k]  # by similarity, then id: deterministic ties
        scores[q, :order.size], ids[q, :order.size] = sims[order], found[order]
    return RescoredResult(scores, ids)
