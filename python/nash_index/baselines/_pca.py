"""Centred PCA that keeps sparse input sparse (implicit centring via ARPACK)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from .base import ArrayLike


@dataclass
class Projection:
    """``transform(X) = (X - mean) @ components.T`` without densifying a sparse ``X``."""

    mean: np.ndarray          # (d,)
    components: np.ndarray    # (n_components, d)

    def transform(self, X: ArrayLike) -> np.ndarray:
        proj = X @ self.components.T
        return np.asarray(proj, dtype=np.float64) - self.mean @ self.components.T


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
