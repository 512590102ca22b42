"""Centred PCA that keeps sparse input sparse (implicit centring via ARPACK)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from .base import ArrayLike


@dataclass
class Projection:
    """``transform(X) = (X - mean) @ components.T`` without densifying a sparse ``X``.

    What every call would recompute is made once, on first use, for the arrays held then
    (replacing ``mean`` or ``components`` remakes it; they are not to be changed in place): the
    offset ``mean @ components.T`` and, for sparse input, ``components.T`` as a C-contiguous
    array (scipy copies a transposed operand to that layout on each product). Both give the very
    numbers of the direct expressions: the same values, multiplied and summed in the same order.
    """

    mean: np.ndarray          # (d,)
    components: np.ndarray    # (n_components, d)

    def __post_init__(self) -> None:  # a plain attribute, not a field: it is neither saved nor compared
        self._made: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None

    def _weights(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(components.T C-contiguous, offset)`` for the current arrays."""
        made = self._made
        if made is None or made[0] is not self.mean or made[1] is not self.components:
            offset = self.mean @ self.components.T
            made = (self.mean, self.components, np.ascontiguousarray(self.components.T), offset)
            self._made = made
        return made[2], made[3]

    def transform(self, X: ArrayLike) -> np.ndarray:
        weights, offset = self._weights()
        proj = X @ weights if sp.issparse(X) else X @ self.components.T
        return np.asarray(proj, dtype=np.float64) - offset


def has_variance(X: ArrayLike) -> bool:
    """Whether the rows of ``X`` are not all equal (ARPACK fails on data without variance)."""
    if X.shape[0] < 2:
        return True  # one row: the component-count check reports it
    if sp.issparse(X):
        mean = np.asarray(X.mean(axis=0)).ravel()
        mean_sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        return bool(np.any(mean_sq - mean * mean > 1e-12 * max(1.0, float(mean_sq.max(initial=0.0)))))
    return bool(np.any(np.ptp(X, axis=0) > 0))


def fit_pca(X: ArrayLike, n_components: int, random_state: int | None) -> Projection:
    """Top ``n_components`` principal directions of the rows of ``X``.

    Sparse input uses scikit-learn's ARPACK solver, which centres implicitly; it needs
    ``n_components < min(n_samples, n_features)``.
    """
    if not has_variance(X):
        raise ValueError(f"cannot take principal components of a {X.shape[0]}×{X.shape[1]} matrix whose rows are "
                         "all equal (e.g. all zero): the data have no variance to hash")
    limit = min(X.shape) - (1 if sp.issparse(X) else 0)
    if n_components > limit:
        raise ValueError(
            f"cannot take {n_components} principal components of a {X.shape[0]}×{X.shape[1]} matrix "
            f"(at most {limit}); use fewer bits or more documents/features"
        )
    seed = None if random_state is None else int(random_state)
    solver = "arpack" if sp.issparse(X) else "full"
    pca = PCA(n_components=n_components, svd_solver=solver, random_state=seed).fit(X)
    return Projection(mean=np.asarray(pca.mean_, dtype=np.float64), components=np.asarray(pca.components_, dtype=np.float64))


def projection_spec(pca: object, n_components: int | None, n_features: int) -> dict:
    """The ``check_state`` spec of a fitted :class:`Projection` (``pca_``) of ``n_components``
    (None: any) directions in ``n_features`` dimensions."""
    if not isinstance(pca, Projection):
        raise ValueError(f"pca_ must be a Projection, got {type(pca).__name__}")
    return {"pca_.mean": (pca.mean, (n_features,), "f"),
            "pca_.components": (pca.components, (n_components, n_features), "f")}
