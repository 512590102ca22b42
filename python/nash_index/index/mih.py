"""Exact Hamming search by multi-index hashing (Norouzi, Punjani & Fleet, 2012).

Each code is split into ``m`` disjoint substrings with one hash table each; a
query probes the buckets of every table at substring radius 0, 1, 2, ... and
verifies what it finds with a full-code popcount, stopping as soon as the
pigeonhole bound proves that no unseen code can enter the result. Results are
identical to :class:`nash_index.FlatIndex` (same distances, same ids under the
(distance, id) tie rule).
"""
from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Optional

import numpy as np

from . import _core
from .base import CoreIndex, register_kind
from .results import SearchResult
from .validation import (
    check_choice,
    check_count,
    check_m,
    check_max_key_bits,
    check_nbits,
    check_num_threads,
)

__all__ = ["MultiIndexHashing", "SearchWork"]


class SearchWork(NamedTuple):
    """Work done per query: ``probes`` (table lookups: a bucket, or a prefix's entries), distinct
    ``candidates`` verified (int64, (nq,)), and ``scanned`` (bool, (nq,)): answered by the flat scan."""

    probes: np.ndarray
    candidates: np.ndarray
    scanned: np.ndarray


@register_kind("mih")
class MultiIndexHashing(CoreIndex):
    """Exact k-NN / range search, sub-linear on clustered codes.

    >>> import numpy as np
    >>> codes = np.random.default_rng(0).integers(0, 256, size=(1000, 8), dtype=np.uint8)
    >>> queries = codes[:2]
    >>> index = MultiIndexHashing(64)    # m chosen automatically
    >>> index.add(codes)                  # uint8 (n, 8)
    >>> distances, ids = index.search(queries, k=10)
    >>> ids[:, 0], distances[:, 0]        # each query's nearest code is itself
    (array([0, 1]), array([0, 0], dtype=int32))

    ``m`` (number of substrings): ``None`` chooses
    ``round(nbits / log2(max(n, 256)))``, at least ``ceil(nbits / 32)``
    (substrings of at most 32 bits), revised each time the tables are rebuilt
    (as the index grows or shrinks, or at :meth:`optimize`). Substring
    lengths differ by at most one bit when ``m`` does not divide ``nbits``.

    Memory beyond codes and ids (``table_bytes``): per table and code, a
    position of ``ceil(log2 n)`` bits and the substring bits that the table's
    packed offset array (one offset per ~8 codes) does not resolve: about 36
    bits per code and table at 10^8-10^9 codes, so 64-bit codes (m = 2) need
    ~2.2x their own bytes in all. The tables are saved with the index, and
    ``load(path, mmap=True)`` serves them from the file without a rebuild.
    ``max_key_bits`` keys each table by at most that many bits of its substring
    (the rest only enters the verification): ~``32 - max_key_bits`` bits less
    per code and table, weaker pruning (more candidates per query). For
    indexes larger than memory allows to build with :meth:`add`, see
    :func:`nash_index.build_mih_file` (built from disk, in bounded memory).
    Measured at 10^8-10^9 codes: ``bench/bench_billion.py``.

    Codes added after the last build are scanned by every query until they
    exceed 1/16 of the index (at most 2^20 codes); then tables are built over
    them alone, a delta segment probed after the main one (O(added codes),
    not a rebuild of everything), until 8 segments merge their deltas, or the
    deltas reach half the main segment and everything is rebuilt as one.
    ``save`` stores every segment's tables, and the tombstones that removals
    left in them (a mapped ``load`` serves them without a rebuild; files of
    older builds saved after a removal hold no tables and are rebuilt at
    load). A removal costs
    what it costs in :class:`FlatIndex` (the codes are compacted): the tables
    keep the removed codes as ``tombstones``, skipped by queries, until they
    pass 1/8 of the tables, then the tables are rebuilt. Rebuilds are built
    while searches from other threads go on, and swapped in at the end.
    Queries and batches that would cost more than a scan are answered by the
    flat scan over the same codes (see :meth:`set_fallback`); the result is
    the same either way. The fallback settings are saved with the index.
    """

    def __init__(self, nbits: int, m: Optional[int] = None, *, max_key_bits: Optional[int] = None) -> None:
        nbits = check_nbits(nbits)
        options = {"m": check_m(m, nbits), "max_key_bits": check_max_key_bits(max_key_bits)}
        self._impl = _core.create_index(self._kind, nbits, options)

    @property
    def m(self) -> int:
        """Number of substrings (tables) in use."""
        return int(self._impl.m)

    @property
    def m_is_auto(self) -> bool:
        """Whether m is chosen automatically."""
        return bool(self._impl.m_is_auto)

    @property
    def substring_bits(self) -> list:
        """Bit length of each substring."""
        return list(self._impl.substring_bits())

    @property
    def max_key_bits(self) -> Optional[int]:
        """The cap on the substring bits each table is keyed by (None: whole substrings)."""
        return int(self._impl.max_key_bits) or None

    @property
    def segments(self) -> int:
        """Table segments: the main one, plus deltas built over codes added since (see the class notes)."""
        return int(self._impl.segments)

    @property
    def indexed(self) -> int:
        """Codes covered by the tables; the rest (added since the last build) is scanned by every query."""
        return int(self._impl.indexed)

    @property
    def tombstones(self) -> int:
        """Removed codes that the tables still list (skipped by queries) until the next rebuild."""
        return int(self._impl.tombstones)

    @property
    def table_bytes(self) -> int:
        """Bytes held by the hash tables (codes and ids excluded)."""
        return int(self._impl.table_bytes)

    @staticmethod
    def auto_m(nbits: int, n: int) -> int:
        """The m chosen automatically for n codes of nbits bits."""
        return int(_core.MultiIndexHashing.auto_m(check_nbits(nbits), check_count(n, "n")))

    def optimize(self, m: Optional[int] = None) -> None:
        """Rebuilds every table over all codes (the scanned tail included, tombstones dropped).

        ``m=None`` keeps the current request (automatic stays automatic and
        is revised for the current size); an int sets a fixed m.
        """
        self._impl.optimize(-1 if m is None else check_m(m, self.nbits))

    @property
    def fallback(self) -> str:
        """When queries go to the flat scan: ``"auto"``, ``"never"`` or ``"always"``."""
        return str(self._impl.get_params()["fallback"])

    def set_fallback(
        self,
        fallback: str = "auto",
        *,
        probe_cost: Optional[float] = None,
        scan_cost_single: Optional[float] = None,
        scan_cost_batch: Optional[float] = None,
    ) -> None:
        """Overrides the rule sending queries to the flat scan.

        ``"never"``: always walk the tables; ``"always"``: always scan;
        ``"auto"``: compare costs in units of one verified candidate: a bucket
        probe costs ``probe_cost``, scanning one 64-bit word of a code costs
        ``scan_cost_single`` for a lone query (a walk is abandoned for the scan
        past the scan's cost) and ``scan_cost_batch`` per query in a batch of
        >= 32 (a sample of the batch walks first; if its mean cost is higher,
        the rest is scanned; walks past their budget join one blocked scan).
        ``k >= ntotal / 16`` always scans. Defaults come from
        ``bench/bench_mih.py --calibrate --n 10M``. The settings are saved
        with the index (``save``, pickling, ``copy.deepcopy``).
        """
        check_choice(fallback, _core.SCAN_FALLBACKS, "fallback")  # the core's list of modes
        p = self._impl.get_params()
        values = {"probe_cost": probe_cost, "scan_cost_single": scan_cost_single, "scan_cost_batch": scan_cost_batch}
        for name, value in values.items():
            if value is None:
                values[name] = p[name]
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self._impl.set_params(fallback, float(values["probe_cost"]), float(values["scan_cost_single"]),
                              float(values["scan_cost_batch"]))

    def fallback_params(self) -> Dict[str, Any]:
        """The current fallback rule and cost parameters."""
        return dict(self._impl.get_params())

    def search_with_work(
        self, queries: Any, k: int, *, num_threads: Optional[int] = None
    ) -> "tuple[SearchResult, SearchWork]":
        """Like :meth:`search`, also returning the work done per query."""
        q, k = self._checked_queries(queries, k)
        distances, ids, work = self._impl.search(q, k, check_num_threads(num_threads), True)
        return SearchResult(distances, ids), SearchWork(work[0], work[1], work[2].astype(bool))

    def __repr__(self) -> str:
        return f"MultiIndexHashing(nbits={self.nbits}, m={self.m}, ntotal={self.ntotal})"
