"""Exact Hamming search by brute force (SIMD xor + popcount over every code)."""
from __future__ import annotations

from .base import CoreIndex, register_kind

__all__ = ["FlatIndex"]


@register_kind("flat")
class FlatIndex(CoreIndex):
    """Exact k-NN / range search over packed binary codes by a full scan.

    >>> import numpy as np
    >>> codes = np.random.default_rng(0).integers(0, 256, size=(1000, 8), dtype=np.uint8)
    >>> queries = codes[:2]
    >>> index = FlatIndex(64)
    >>> index.add(codes)                 # uint8 (n, 8)
    >>> distances, ids = index.search(queries, k=10)
    >>> ids[:, 0], distances[:, 0]       # each query's nearest code is itself
    (array([0, 1]), array([0, 0], dtype=int32))

    Memory: n * code_size bytes for the codes, plus 8 bytes per code for ids
    unless they are 0..n-1. Searches are thread-safe and release the GIL;
    ``add``/``remove`` wait for running searches.
    """
