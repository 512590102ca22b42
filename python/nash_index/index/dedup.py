"""Indexes that store each distinct code once, with the ascending ids that carry it.

Learned codes of a large corpus repeat (near-duplicate documents get the same code): a
:class:`FlatDedupIndex` scans, and a :class:`MihDedupIndex` probes, each distinct code once, and
expands the nearest ones into their ids; the ids at the boundary distance come from every code at
that distance, smallest first. Results are exactly :class:`~nash_index.FlatIndex`'s (distances
and ids, ties by ascending id, the same padding); memory falls with the duplicate share (ids
8 bytes each, a code and its table entries once per distinct code). Storage order
(:meth:`codes`, :meth:`ids`) is by distinct code, then by id. ``add`` and ``remove`` rewrite the
id lists (linear in the index size), ``reconstruct`` scans them: fine for bulk adds, slow for
many small ones. :func:`~nash_index.make_index` picks these kinds when the codes it is given
repeat (see :data:`~nash_index.index.factory.DEDUP_MIN_SHARE`).
"""
from __future__ import annotations

from typing import Dict, Optional

from . import _core
from .base import CoreIndex, register_kind
from .validation import check_m, check_max_key_bits, check_nbits

__all__ = ["FlatDedupIndex", "MihDedupIndex"]


class _Groups:
    """What both dedup kinds report about their groups of identical codes."""

    _impl: object

    @property
    def distinct(self) -> int:
        """Distinct codes held (each with at least one id)."""
        return int(self.groups_info()["distinct"])

    def groups_info(self) -> Dict[str, int]:
        """``distinct`` codes, ``groups`` (with the emptied ones a removal leaves until the next
        compaction) and ``list_bytes`` (the id lists and their offsets: 8 bytes per id and per group)."""
        return {key: int(value) for key, value in _core.dedup_info(self._impl).items()}


@register_kind("flat_dedup")
class FlatDedupIndex(_Groups, CoreIndex):
    """Flat scan over the distinct codes; each code's ids listed once (see the module notes)."""

    def __init__(self, nbits: int) -> None:
        self._impl = _core.create_index(self._kind, check_nbits(nbits), {})


@register_kind("mih_dedup")
class MihDedupIndex(_Groups, CoreIndex):
    """Multi-index hashing over the distinct codes; each code's ids listed once (see the module notes).

    ``m`` and ``max_key_bits`` are :class:`~nash_index.MultiIndexHashing`'s, applied to the
    distinct codes (m automatic by their count).
    """

    def __init__(self, nbits: int, m: Optional[int] = None, *, max_key_bits: Optional[int] = None) -> None:
        nbits = check_nbits(nbits)
        options = {"m": check_m(m, nbits), "max_key_bits": check_max_key_bits(max_key_bits)}
        self._impl = _core.create_index(self._kind, nbits, options)
