"""Choosing an index for a workload: flat scan or multi-index hashing."""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from ._validation import check_nbits
from .flat import FlatIndex
from .mih import MultiIndexHashing

__all__ = ["make_index", "MIH_MIN_CODES", "MIH_MAX_BITS"]

# Measured by bench/bench_mih.py on the 2-core reference machine (see its
# README section / results JSON): below ~200k codes a flat scan answers a
# query in well under 100 us and MIH's edge does not pay for its tables
# (up to ~5x the code bytes at 1M codes); at 64-256 bits and >= 1M clustered
# codes MIH answers k = 10 queries 4-30x faster.
MIH_MIN_CODES = 200_000
MIH_MIN_BITS = 64   # 32-bit codes: m <= 2 substrings of 16 bits, buckets too crowded
MIH_MAX_BITS = 256  # beyond, m >= nbits / 32 substrings make the pigeonhole bound too weak


def make_index(
    nbits: int, n_expected: Optional[int] = None, kind: str = "auto", *, m: Optional[int] = None
) -> Union[FlatIndex, MultiIndexHashing]:
    """An empty index for ``nbits``-bit codes.

    ``kind="flat"`` or ``"mih"`` forces the kind. ``kind="auto"`` picks
    :class:`MultiIndexHashing` when ``n_expected >= MIH_MIN_CODES`` (200k) and
    ``64 <= nbits <= 256``, and :class:`FlatIndex` otherwise (unknown size,
    small N, short or very long codes). Both return identical results; the
    choice is only about speed and memory. What the rule cannot know in
    advance — uniform (unclustered) codes, large k, large query batches — the
    MIH handles itself by answering such queries with the same flat scan over
    its own codes (see :meth:`MultiIndexHashing.set_fallback`), so on uniform
    codes it stays within a few percent of a :class:`FlatIndex`.

    ``m`` (only with ``kind="mih"``) is passed to :class:`MultiIndexHashing`.
    """
    nbits = check_nbits(nbits)
    if kind not in ("auto", "flat", "mih"):
        raise ValueError(f"kind must be 'auto', 'flat' or 'mih', got {kind!r}")
    if n_expected is not None:
        if isinstance(n_expected, bool) or not isinstance(n_expected, (int, np.integer)):
            raise TypeError(f"n_expected must be an int or None, got {type(n_expected).__name__}")
        if n_expected < 0:
            raise ValueError(f"n_expected must be >= 0, got {n_expected}")
    if m is not None and kind != "mih":
        raise ValueError("m applies to kind='mih' only")
    if kind == "auto":
        kind = "mih" if _mih_pays(nbits, n_expected) else "flat"
    return MultiIndexHashing(nbits, m) if kind == "mih" else FlatIndex(nbits)


def _mih_pays(nbits: int, n_expected: Any) -> bool:
    return n_expected is not None and n_expected >= MIH_MIN_CODES and MIH_MIN_BITS <= nbits <= MIH_MAX_BITS
