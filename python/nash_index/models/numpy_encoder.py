"""Torch-free encoder: the trained encoder's weights as numpy arrays.

Serving needs only numpy (and scipy for sparse input): ``model.export_numpy_encoder()`` returns
a ``NumpyEncoder`` whose ``encode`` gives the codes of ``model.encode``. It can be saved to a
single ``.npz`` file and loaded without torch installed. This module must not import torch.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..checks import check_array
from .row_norm import l2_rows

Layer = tuple[np.ndarray, np.ndarray]


class NumpyEncoder:
    """ReLU MLP trunk + linear head; bit k is 1 where head output k exceeds ``thresholds[k]``.

    Layers are ``(W (in, out), b (out,))`` float32 pairs. Dropout is absent (as in eval mode).
    ``input_norm="l2"``: input rows are scaled to unit length first, as the model's encoder did
    (``row_norm.py``).
    """

    def __init__(self, layers: Sequence[Layer], head: Layer, thresholds: np.ndarray,
                 input_norm: str = "none") -> None:
        if input_norm not in ("l2", "none"):
            raise ValueError(f"input_norm must be 'l2' or 'none', got {input_norm!r}")
        self.input_norm = input_norm
        arrays = {"n_layers": np.array(len(layers)), "head_W": np.asarray(head[0]), "head_b": np.asarray(head[1]),
                  "thresholds": np.asarray(thresholds)}
        for i, (W, b) in enumerate(layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = np.asarray(W), np.asarray(b)
        layers, head, thresholds = _layers_of(arrays)  # shapes chain, weights finite: fail here, not in encode
        self.layers = [(W.astype(np.float32), b.astype(np.float32)) for W, b in layers]
        self.head = (head[0].astype(np.float32), head[1].astype(np.float32))
        self.thresholds = thresholds.astype(np.float32)
        first = self.layers[0][0] if self.layers else self.head[0]
        self.n_features = first.shape[0]
        self.nbits = self.head[0].shape[1]

    def _check(self, X):
        """X as float32 CSR or array of shape (n, n_features); the checks of ``BaseHasher.encode``
        (numeric, finite), so that both encoders refuse the same input (no rows is no codes)."""
        return check_array(X, "X", accept_sparse=True, dtype=np.float32, min_rows=0, n_features=self.n_features)

    def scores(self, X) -> np.ndarray:
        """Head outputs (logits for NASH, posterior means for VDSH), float32 (n, nbits)."""
        a = self._check(X)
        if self.input_norm == "l2":
            a = l2_rows(a)
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
                  "n_layers": np.array(len(self.layers)), "l2_rows": np.array(self.input_norm == "l2")}
        for i, (W, b) in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NumpyEncoder":
        """Read a file written by ``save``; ValueError naming ``path`` (and the array) when it is
        damaged: layer shapes must chain, thresholds match the head, every weight be finite."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: np.asarray(z[name]) for name in z.files}
        except OSError:
            raise
        except Exception as exc:  # untrusted bytes: truncation, bit flips, not an .npz
            raise ValueError(f"'{path}' is not a readable encoder file ({type(exc).__name__}: {exc})") from exc
        try:
            return cls(*_layers_of(arrays), input_norm=_input_norm_of(arrays))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"'{path}' is not a valid encoder: {exc}") from None


def _layers_of(z: dict) -> tuple:
    """``(layers, head, thresholds)`` from the arrays of an encoder file, shapes checked."""
    n_layers = z["n_layers"]
    if n_layers.shape != () or n_layers.dtype.kind not in "iu" or not 0 <= int(n_layers) <= 64:
        raise ValueError(f"n_layers must be an integer in [0, 64], got {n_layers!r}")
    pairs = [(z[f"W{i}"], z[f"b{i}"]) for i in range(int(n_layers))] + [(z["head_W"], z["head_b"])]
    width = None
    for i, (W, b) in enumerate(pairs):
        name = "head" if i == len(pairs) - 1 else f"layer {i}"
        if W.ndim != 2 or b.shape != (W.shape[1],) or (width is not None and W.shape[0] != width):
            raise ValueError(f"{name}: W {W.shape} and b {b.shape} do not chain (expected W (in, out) with "
                             f"in = {width if width is not None else 'n_features'}, b (out,))")
        if W.dtype.kind != "f" or b.dtype.kind != "f" or not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ValueError(f"{name}: weights must be finite floats")
        width = W.shape[1]
    thresholds = z["thresholds"]
    if thresholds.shape != (width,) or thresholds.dtype.kind != "f" or not np.isfinite(thresholds).all():
        raise ValueError(f"thresholds must be {width} finite floats (one per bit), got shape {thresholds.shape}")
    if width == 0 or width % 8 or pairs[0][0].shape[0] == 0:
        raise ValueError(f"the head makes {width} bits (needs a positive multiple of 8) from "
                         f"{pairs[0][0].shape[0]} features")
    return pairs[:-1], pairs[-1], thresholds


def _input_norm_of(z: dict) -> str:
    """``"l2"`` when the file says so; files written before the flag existed normalise nothing."""
    flag = z.get("l2_rows", np.array(False))
    if flag.shape != () or flag.dtype != np.bool_:
        raise ValueError(f"l2_rows must be a boolean scalar, got {flag!r}")
    return "l2" if bool(flag) else "none"
