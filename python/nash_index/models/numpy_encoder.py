"""Torch-free encoder: the trained encoder's weights as numpy arrays.

Serving needs only numpy (and scipy for sparse input): ``model.export_numpy_encoder()`` returns
a ``NumpyEncoder`` whose ``encode`` gives the codes of ``model.encode``. It can be saved to a
single ``.npz`` file and loaded without torch installed. This module must not import torch.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

Layer = tuple[np.ndarray, np.ndarray]


class NumpyEncoder:
    """ReLU MLP trunk + linear head; bit k is 1 where head output k exceeds ``thresholds[k]``.

    Layers are ``(W (in, out), b (out,))`` float32 pairs. Dropout is absent (as in eval mode).
    """

    def __init__(self, layers: Sequence[Layer], head: Layer, thresholds: np.ndarray) -> None:
        self.layers = [(np.asarray(W, np.float32), np.asarray(b, np.float32)) for W, b in layers]
        self.head = (np.asarray(head[0], np.float32), np.asarray(head[1], np.float32))
        self.thresholds = np.asarray(thresholds, np.float32)
        first = self.layers[0][0] if self.layers else self.head[0]
        self.n_features = first.shape[0]
        self.nbits = self.head[0].shape[1]
        if self.thresholds.shape != (self.nbits,):
            raise ValueError(f"thresholds must have shape ({self.nbits},)")

    def _check(self, X):
        if hasattr(X, "tocsr"):
            X = X.tocsr().astype(np.float32)
        else:
            X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n, {self.n_features}), got {X.shape}")
        return X

    def scores(self, X) -> np.ndarray:
        """Head outputs (logits for NASH, posterior means for VDSH), float32 (n, nbits)."""
        a = self._check(X)
        for W, b in self.layers:
            a = np.maximum(np.asarray(a @ W) + b, 0.0)
        W, b = self.head
        return np.asarray(a @ W) + b

    def encode_bits(self, X) -> np.ndarray:
        """0/1 codes, uint8 (n, nbits)."""
        return (self.scores(X) > self.thresholds).astype(np.uint8)

    def encode(self, X) -> np.ndarray:
        """Packed codes, uint8 (n, nbits // 8), the ``np.packbits(bits, axis=1)`` order."""
        return np.packbits(self.encode_bits(X), axis=1)

    def save(self, path: str | os.PathLike) -> None:
        """Write every array to one ``.npz`` file."""
        arrays = {"thresholds": self.thresholds, "head_W": self.head[0], "head_b": self.head[1],
                  "n_layers": np.array(len(self.layers))}
        for i, (W, b) in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NumpyEncoder":
        """Read a file written by ``save``."""
        with np.load(path, allow_pickle=False) as z:
            layers = [(z[f"W{i}"], z[f"b{i}"]) for i in range(int(z["n_layers"]))]
            return cls(layers, (z["head_W"], z["head_b"]), z["thresholds"])
