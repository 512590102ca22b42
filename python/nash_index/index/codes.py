"""Packing 0/1 bit arrays into the index's uint8 code format and back.

Bit order (the same as ``np.packbits(bits, axis=1)``, "big" bit order): bit j
of a code is stored in byte ``j // 8``, at bit position ``7 - j % 8`` (the most
significant bit of byte 0 is bit 0). ``nbits`` must be a multiple of 8.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import to_numpy
from .validation import MAX_BITS, check_nbits

__all__ = ["binarize", "pack_bits", "unpack_bits"]


def _as_bit_array(bits: Any) -> np.ndarray:
    arr = np.asarray(to_numpy(bits))
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"bits must be a 0/1 or boolean array, got dtype {arr.dtype}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError("bits must contain only 0 and 1 (threshold probabilities first)")
    return arr.astype(np.bool_)


def pack_bits(bits: Any) -> np.ndarray:
    """Packs a (n, nbits) or (nbits,) array of 0/1 (numpy or torch) into uint8 codes.

    Returns a C-contiguous ``uint8`` array of shape ``(n, nbits // 8)`` (or
    ``(nbits // 8,)`` for a 1-D input).
    """
    arr = _as_bit_array(bits)
    if arr.ndim not in (1, 2):
        raise ValueError(f"bits must be 1-D or 2-D, got {arr.ndim} dimensions")
    if arr.shape[-1] % 8 or not 0 < arr.shape[-1] <= MAX_BITS:
        raise ValueError(f"bits must have nbits columns, a positive multiple of 8 up to {MAX_BITS}, got shape {arr.shape}")
    return np.ascontiguousarray(np.packbits(arr, axis=-1))


def unpack_bits(codes: Any, nbits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint8 codes (n, nbits // 8) -> uint8 0/1 array (n, nbits)."""
    nbits = check_nbits(nbits)
    arr = np.asarray(to_numpy(codes))
    if arr.dtype != np.uint8:
        raise TypeError(f"codes must have dtype uint8, got {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"codes must be 1-D or 2-D, got {arr.ndim} dimensions")
    if arr.shape[-1] != nbits // 8:
        raise ValueError(f"codes must have {nbits // 8} bytes per row for {nbits} bits, got {arr.shape}")
    return np.unpackbits(arr, axis=-1)


def binarize(x: Any) -> np.ndarray:
    """Packed sign bits of float vectors: bit j of row i is set where ``x[i, j] > 0``.

    The sentence-transformers ``ubinary`` convention (``np.packbits(x > 0)`` per row), so that
    plain sign codes of an embedding can be indexed and compared with learned ones. ``x`` is a
    (n, d) or (d,) array (numpy, or torch by the GPU rule of :mod:`nash_index.checks`) with d a multiple of 8; NaN is refused.
    """
    arr = np.asarray(to_numpy(x))
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"x must be a float (or integer) array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D or 2-D, got {arr.ndim} dimensions")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError("x contains NaN: its sign is undefined")
    return pack_bits(arr > 0)
