"""Unit-norm rows: the one normalisation behind every cosine of the package (exact cosine
precision, rescoring, the neighbour graph)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .convert import is_sparse, to_numpy

__all__ = ["unit_rows"]


def unit_rows(X: Any) -> Any:
    """float32 rows scaled to unit L2 norm; an all-zero row stays zero (cosine 0 with everything).

    Dense input (numpy, torch by the GPU rule of ``convert.py``) gives a new float32 array;
    scipy.sparse input a new float32 CSR matrix of the same class, the caller's untouched.
    """
    X = to_numpy(X)
    if is_sparse(X):
        return _sparse_unit_rows(X)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def _sparse_unit_rows(X: Any) -> Any:
    X = X.tocsr().astype(np.float32, copy=True)  # a copy even of float32 CSR: scaled in place below
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1), dtype=np.float32).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    X.data *= np.repeat(scale, np.diff(X.indptr))  # row i's stored values times scale[i]
    X.eliminate_zeros()  # a zero row's explicit zeros are dropped, as a product would drop them
    return X
