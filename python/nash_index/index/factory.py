"""Choosing an index for a workload: flat scan or multi-index hashing (the only ``make_index``)."""
from __future__ import annotations

from typing import Optional

from . import flat, mih  # noqa: F401  (registers their classes: make_index returns them)
from .base import CoreIndex, new_index, registered_kinds
from .validation import check_choice, check_int, check_nbits

__all__ = ["INDEX_KINDS", "MIH_MAX_BITS", "MIH_MIN_BITS", "MIH_MIN_CODES", "auto_kind", "check_index_kind", "make_index"]

#: What ``make_index(kind=...)`` (and the pipeline's and the CLI's index option) accept: ``"auto"``
#: and every kind the core registers (``"flat"``, ``"mih"``; test builds add test-only kinds).
INDEX_KINDS = ("auto", *registered_kinds())

# Measured by bench/bench_mih.py (bench/results/mih.json): below ~200k codes a flat scan answers
# a query in well under 100 us and MIH's edge does not pay for its tables; at 64-256 bits and
# >= 1M clustered codes MIH answers k = 10 queries several times faster.
MIH_MIN_CODES = 200_000
MIH_MIN_BITS = 64   # 32-bit codes: m <= 2 substrings of 16 bits, buckets too crowded
MIH_MAX_BITS = 256  # beyond, m >= nbits / 32 substrings make the pigeonhole bound too weak


def check_index_kind(kind: str, name: str = "kind") -> str:
    """``kind`` if it is one of :data:`INDEX_KINDS`."""
    return check_choice(kind, INDEX_KINDS, name)


def make_index(nbits: int, n_expected: Optional[int] = None, kind: str = "auto", *, m: Optional[int] = None) -> CoreIndex:
    """An empty index for ``nbits``-bit codes.

    ``kind="flat"`` or ``"mih"`` (any of :data:`INDEX_KINDS`) forces the kind. ``kind="auto"`` picks
    :class:`MultiIndexHashing` when ``n_expected >= MIH_MIN_CODES`` (200k) and
    ``64 <= nbits <= 256``, and :class:`FlatIndex` otherwise (unknown size,
    small N, short or very long codes). Both return identical results; the
    choice is only about speed and memory. What the rule cannot know in
    advance — uniform (unclustered) codes, large k, large query batches — the
    MIH handles itself by answering such queries with the same flat scan over
    its own codes (see :meth:`MultiIndexHashing.set_fallback`), so on uniform
    codes it stays within a few percent of a :class:`FlatIndex` (measured at
    10^8 codes: p50 within 2%, mean 8%; ``bench/results/billion.md``). The
    rule holds up to 10^9 codes and beyond; past what ``add`` can build in
    memory, build the file with :func:`nash_index.build_mih_file` instead.

    ``m`` (only with ``kind="mih"``) is passed to :class:`MultiIndexHashing`.
    """
    nbits = check_nbits(nbits)
    check_index_kind(kind)
    n_expected = check_int(n_expected, "n_expected", allow_none=True)
    if n_expected is not None and n_expected < 0:
        raise ValueError(f"n_expected must be >= 0, got {n_expected}")
    if m is not None and kind != "mih":
        raise ValueError("m applies to kind='mih' only")
    if kind == "auto":
        kind = auto_kind(nbits, n_expected)
    return new_index(kind, nbits) if m is None else new_index(kind, nbits, m=m)


def auto_kind(nbits: int, n_expected: Optional[int]) -> str:
    """What ``make_index(kind="auto")`` builds for this workload: ``"mih"`` or ``"flat"``."""
    pays = n_expected is not None and n_expected >= MIH_MIN_CODES and MIH_MIN_BITS <= nbits <= MIH_MAX_BITS
    return "mih" if pays else "flat"
