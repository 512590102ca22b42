"""Spectral hashing (Weiss, Torralba & Fergus, NIPS 2008)."""

from __future__ import annotations

import numpy as np

from ._pca import fit_pca, projection_spec
from .base import ArrayLike, HashingBaseline


class SpectralHashing(HashingBaseline):
    """Bits are thresholded analytical eigenfunctions of a uniform distribution on a box.

    1. PCA to ``nbits`` dimensions (fewer if the data have fewer).
    2. Fit a box [mn_i, mx_i] to each PCA dimension.
    3. The 1-D eigenfunctions are sin(pi/2 + k pi (v_i - mn_i) / (mx_i - mn_i)), k = 1, 2, ...,
       with eigenvalue growing as (k / (mx_i - mn_i))^2. Keep the ``nbits`` smallest over all
       (dimension, k) pairs, so wide (high-variance) directions get several bits.
    4. Bit = [eigenfunction > 0].
    """

    def _fit(self, X: ArrayLike, rng: np.random.Generator) -> None:
        n_pc = max(1, min(self.nbits, min(X.shape) - 1))  # 0 would fail inside scikit-learn: fit_pca says why
        self.pca_ = fit_pca(X, n_pc, self.random_state)
        V = self.pca_.transform(X)
        eps = np.finfo(np.float64).eps
        self.low_ = V.min(axis=0) - eps
        width = V.max(axis=0) + eps - self.low_
        self.width_ = width
        # enough modes per dimension that the nbits smallest are surely among them
        max_mode = np.ceil((self.nbits + 1) * width / width.max()).astype(int)
        dims = np.concatenate([np.full(m, i) for i, m in enumerate(max_mode)])
        modes = np.concatenate([np.arange(1, m + 1) for m in max_mode])
        eig = (modes / width[dims]) ** 2
        order = np.lexsort((modes, dims, eig))[: self.nbits]  # stable choice among equal eigenvalues
        self.dims_, self.modes_ = dims[order], modes[order]

    def _bits(self, X: ArrayLike) -> np.ndarray:
        V = self.pca_.transform(X)
        phase = np.pi * self.modes_ * (V[:, self.dims_] - self.low_[self.dims_]) / self.width_[self.dims_]
        return np.sin(np.pi / 2 + phase) > 0

    def _state_spec(self) -> dict:
        spec = projection_spec(self.pca_, None, self.n_features_)
        n_pc = self.pca_.components.shape[0] if self.pca_.components.ndim == 2 else -1
        if not 1 <= n_pc <= self.nbits:
            raise ValueError(f"pca_.components must hold 1 to {self.nbits} directions, got shape "
                             f"{self.pca_.components.shape}")
        spec.update({"low_": (self.low_, (n_pc,), "f"), "width_": (self.width_, (n_pc,), "f"),
                     "dims_": (self.dims_, (self.nbits,), "iu"), "modes_": (self.modes_, (self.nbits,), "iu")})
        for name, value, low, high in (("dims_", self.dims_, 0, n_pc - 1), ("modes_", self.modes_, 1, np.inf)):
            checkable = isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.size
            if checkable and not low <= value.min() <= value.max() <= high:
                raise ValueError(f"{name} must lie in [{low}, {high}]")
        if isinstance(self.width_, np.ndarray) and np.any(self.width_ <= 0):
            raise ValueError("width_ must be positive")
        return spec
