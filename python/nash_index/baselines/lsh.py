"""Locality-sensitive hashing with random hyperplanes (Charikar 2002) on TF-IDF vectors."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .base import ArrayLike, HashingBaseline


class LSH(HashingBaseline):
    """Bit j = [x · w_j > 0] with w_j ~ N(0, I); no training beyond drawing the hyperplanes.

    ``center=True`` subtracts the training mean first (a common variant); the default keeps the
    classic uncentred form used in the semantic-hashing papers' LSH rows.
    """

    def __init__(self, nbits: int = 32, random_state: Optional[int] = 0, center: bool = False) -> None:
        super().__init__(nbits, random_state)
        self.center = center

    def _fit(self, X: ArrayLike, rng: np.random.Generator) -> None:
        self.planes_ = rng.standard_normal((X.shape[1], self.nbits))
        mean = np.asarray(X.mean(axis=0)).ravel() if self.center else np.zeros(X.shape[1])
        self.offset_ = mean @ self.planes_

    def _bits(self, X: ArrayLike) -> np.ndarray:
        return np.asarray(X @ self.planes_) - self.offset_ > 0

    def _state_spec(self) -> dict:
        return {"planes_": (self.planes_, (self.n_features_, self.nbits), "f"), "offset_": (self.offset_, (self.nbits,), "f")}
