"""Choosing an index for a workload: flat scan or multi-index hashing (the only ``make_index``)."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import cluster, dedup, flat, mih  # noqa: F401  (registers their classes: make_index returns them)
from .base import CoreIndex, new_index, registered_kinds
from .validation import as_code_rows, check_choice, check_int, check_nbits

__all__ = ["DEDUP_MIN_SHARE", "INDEX_KINDS", "MIH_MAX_BITS", "MIH_MIN_BITS", "MIH_MIN_CODES", "auto_kind",
           "check_index_kind", "duplicate_share", "make_index"]

#: What ``make_index(kind=...)`` (and the pipeline's and the CLI's index option) accept: ``"auto"``
#: and every kind the core registers (``"flat"``, ``"mih"``; test builds add test-only kinds).
INDEX_KINDS = ("auto", *registered_kinds())

# Measured by bench/bench_mih.py (bench/results/mih.json): below ~200k codes a flat scan answers
# a query in well under 100 us and MIH's edge does not pay for its tables; at 64-256 bits and
# >= 1M clustered codes MIH answers k = 10 queries several times faster.
MIH_MIN_CODES = 200_000
MIH_MIN_BITS = 64   # 32-bit codes: m <= 2 substrings of 16 bits, buckets too crowded
MIH_MAX_BITS = 256  # beyond, m >= nbits / 32 substrings make the pigeonhole bound too weak
#: ``kind="auto"`` stores identical codes once (``"flat_dedup"`` / ``"mih_dedup"``) when at least
#: this share of the codes given repeats an earlier one (:func:`duplicate_share`). Measured by
#: bench/bench_dedup.py (bench/results/dedup_overhead.md, 10^6 64-bit codes): without repeats the
#: dedup kinds answer ~10-20% slower and hold 2.4x (MIH) to 4x (flat: ids become stored) the
#: bytes; at a share of 0.57 they answer 1.9-2.2x faster, at 0.8 3.6x, at 0.95 8-9x (learned codes
#: of Reuters replicated to 10^8, 88% repeats: 10-NN >3000x the flat scan, bench/results/dedup.md).
#: Half the codes repeating is where the speed clearly pays for the memory.
DEDUP_MIN_SHARE = 0.5
#: :func:`duplicate_share` looks at up to this many rows (evenly spaced) of larger inputs.
DUPLICATE_SAMPLE = 1_000_000


def check_index_kind(kind: str, name: str = "kind") -> str:
    """``kind`` if it is one of :data:`INDEX_KINDS`."""
    return check_choice(kind, INDEX_KINDS, name)


def make_index(nbits: int, n_expected: Optional[int] = None, kind: str = "auto", *, m: Optional[int] = None,
               codes: Any = None) -> CoreIndex:
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

    ``codes`` (the packed codes about to be added; optional) lets ``"auto"`` measure how often
    codes repeat: at a :func:`duplicate_share` of at least :data:`DEDUP_MIN_SHARE` it stores each
    distinct code once (:class:`~nash_index.index.dedup.MihDedupIndex` or
    :class:`~nash_index.index.dedup.FlatDedupIndex`, same results); ``n_expected`` defaults to
    their count. The index is returned empty: add ``codes`` to it.

    ``m`` (only with ``kind="mih"`` or ``"mih_dedup"``) is passed to the MIH.
    """
    nbits = check_nbits(nbits)
    check_index_kind(kind)
    n_expected = check_int(n_expected, "n_expected", allow_none=True)
    if n_expected is not None and n_expected < 0:
        raise ValueError(f"n_expected must be >= 0, got {n_expected}")
    if m is not None and kind not in ("mih", "mih_dedup"):
        raise ValueError("m applies to kind='mih' or 'mih_dedup' only")
    if kind == "auto":
        share = None
        if codes is not None:
            rows = as_code_rows(codes, nbits // 8, "codes")
            share = duplicate_share(rows)
            n_expected = len(rows) if n_expected is None else n_expected
        kind = auto_kind(nbits, n_expected, share)
    return new_index(kind, nbits) if m is None else new_index(kind, nbits, m=m)


def auto_kind(nbits: int, n_expected: Optional[int], duplicate_share: Optional[float] = None) -> str:
    """What ``make_index(kind="auto")`` builds for this workload: ``"mih"`` or ``"flat"``, with
    ``"_dedup"`` when ``duplicate_share`` (None: unknown) is at least :data:`DEDUP_MIN_SHARE`."""
    pays = n_expected is not None and n_expected >= MIH_MIN_CODES and MIH_MIN_BITS <= nbits <= MIH_MAX_BITS
    kind = "mih" if pays else "flat"
    return kind + "_dedup" if duplicate_share is not None and duplicate_share >= DEDUP_MIN_SHARE else kind


def duplicate_share(codes: Any) -> float:
    """The share of rows of ``codes`` (uint8, (n, code_size)) equal to an earlier row: 1 - distinct / n.

    Above :data:`DUPLICATE_SAMPLE` rows it is measured on that many evenly spaced rows (a lower
    bound: a sample holds fewer copies of each code than the whole).
    """
    rows = np.asarray(codes)
    if rows.ndim != 2 or rows.dtype != np.uint8:
        raise ValueError(f"codes must be uint8 of shape (n, code_size), got {rows.dtype} {rows.shape}")
    if len(rows) == 0:
        return 0.0
    if len(rows) > DUPLICATE_SAMPLE:
        rows = rows[np.linspace(0, len(rows) - 1, DUPLICATE_SAMPLE).astype(np.int64)]
    flat_rows = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1]))).ravel()
    return 1.0 - len(np.unique(flat_rows)) / len(flat_rows)
