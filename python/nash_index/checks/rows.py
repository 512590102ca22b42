"""Unit-norm rows: the one normalisation behind every cosine of the package (exact cosine
precision, rescoring, the neighbour graph).

Norms are taken in float64 of each row divided by its largest magnitude: a float32 norm of a
finite row overflows to infinity once an entry passes ~1.8e19 (every cosine then becomes 0) and
loses its digits in subnormals; scaled, any finite row of any float dtype keeps its direction.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .convert import is_sparse, to_numpy

__all__ = ["unit_rows"]

_BLOCK_ROWS = 1 << 16  # rows normalised at a time: the float64 copy stays small


def unit_rows(X: Any) -> Any:
    """float32 rows scaled to unit L2 norm; an all-zero row stays zero (cosine 0 with everything).

    Dense input (numpy, torch by the GPU rule of ``convert.py``) gives a new float32 array;
    scipy.sparse input a new float32 CSR matrix of the same class, the caller's untouched.
    """
    X = to_numpy(X)
    if is_sparse(X):
        return _sparse_unit_rows(X)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {X.shape}")
    out = np.zeros(X.shape, dtype=np.float32)
    if X.shape[1] == 0:
        return out
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        rows = np.asarray(X[start:start + _BLOCK_ROWS], dtype=np.float64)
        peak = np.abs(rows).max(axis=1, keepdims=True)
        rows = np.divide(rows, peak, out=np.zeros_like(rows), where=peak > 0)  # entries now in [-1, 1]
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        np.divide(rows, norms, out=out[start:start + _BLOCK_ROWS], where=norms > 0, casting="same_kind")
    return out


def _sparse_unit_rows(X: Any) -> Any:
    X = X.tocsr()
    data = np.abs(X.data.astype(np.float64))  # read before the float32 copy: it may overflow there
    lengths = np.diff(X.indptr)
    filled = lengths > 0
    peak = np.zeros(X.shape[0], dtype=np.float64)
    if data.size:
        peak[filled] = np.maximum.reduceat(data, X.indptr[:-1][filled])
    rows = np.repeat(np.arange(X.shape[0]), lengths)
    scaled = X.data.astype(np.float64) / np.where(peak > 0, peak, 1.0)[rows]
    norms = np.sqrt(np.bincount(rows, weights=scaled * scaled, minlength=X.shape[0]))
    out = X.copy()  # the caller's matrix untouched; its values replaced below (float32: no overflow in a cast)
    out.data = (scaled / np.where(norms > 0, norms, 1.0)[rows]).astype(np.float32)
    out.eliminate_zeros()  # a zero row's explicit zeros are dropped, as a product would drop them
    return out
