"""PCA-ITQ: iterative quantization (Gong & Lazebnik, CVPR 2011)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..checks import Integer
from ._pca import fit_pca, projection_spec
from .base import ArrayLike, HashingBaseline


class PCAITQ(HashingBaseline):
    """Project onto the top ``nbits`` principal directions, then learn an orthogonal rotation R
    minimising the quantisation loss ||B - V R||_F over B in {-1, 1} by alternating
    B = sign(V R) and the orthogonal Procrustes solution R = U W^T of svd(V^T B) = U S W^T.
    """

    _parameter_constraints = {**HashingBaseline._parameter_constraints, "n_iter": Integer(low=0)}

    def __init__(self, nbits: int = 32, random_state: Optional[int] = 0, n_iter: int = 50) -> None:
        self.n_iter = n_iter
        super().__init__(nbits, random_state)

    def _fit(self, X: ArrayLike, rng: np.random.Generator) -> None:
        self.pca_ = fit_pca(X, self.nbits, self.random_state)
        V = self.pca_.transform(X)
        R, _ = np.linalg.qr(rng.standard_normal((self.nbits, self.nbits)))
        for _ in range(self.n_iter):
            B = np.where(V @ R >= 0, 1.0, -1.0)
            U, _, Wt = np.linalg.svd(V.T @ B)
            R = U @ Wt
        self.rotation_ = R

    def _bits(self, X: ArrayLike) -> np.ndarray:
        return self.pca_.transform(X) @ self.rotation_ >= 0

    def _state_spec(self) -> dict:
        return {**projection_spec(self.pca_, self.nbits, self.n_features_),
                "rotation_": (self.rotation_, (self.nbits, self.nbits), "f")}
