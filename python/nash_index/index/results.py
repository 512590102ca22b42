"""Result types shared by every index."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SearchResult", "RangeSearchResult"]


class SearchResult(NamedTuple):
    """k-NN result: ``distances`` int32 (nq, k), ``ids`` int64 (nq, k).

    Each row is sorted by (distance, id). When k exceeds the number of codes the
    row is padded with id -1 and distance INT32_MAX (2**31 - 1), as faiss does.
    """

    distances: np.ndarray
    ids: np.ndarray


class RangeSearchResult(NamedTuple):
    """Range result in faiss's CSR layout: query i owns ``[lims[i], lims[i+1])``.

    ``lims`` int64 (nq + 1,), ``distances`` int32, ``ids`` int64; each query's
    results are sorted by (distance, id).
    """

    lims: np.ndarray
    distances: np.ndarray
    ids: np.ndarray
