"""Exact Hamming search by brute force (SIMD xor + popcount over every code)."""
from __future__ import annotations

from . import _core
from .base import CoreIndex, register_kind
from .validation import check_nbits

__all__ = ["FlatIndex"]


@register_kind(_core.KIND_FLAT, _core.FlatIndex)
class FlatIndex(CoreIndex):
    """Exact k-NN / range search over packed binary codes by a full scan.

    >>> index = FlatIndex(64)
    >>> index.add(codes)                 # uint8 (n, 8)
    >>> distances, ids = index.search(queries, k=10)

    Memory: n * code_size bytes for the codes, plus 8 bytes per code for ids
    unless they are 0..n-1. Searches are thread-safe and release the GIL;
    ``add``/``remove`` wait for running searches.
    """

    def __init__(self, nbits: int) -> None:
        self._impl = _core.FlatIndex(check_nbits(nbits))
