"""The index layer: exact Hamming search over packed binary codes (numpy only, no torch).

:class:`FlatIndex` (SIMD scan) and :class:`MultiIndexHashing` (sub-linear on clustered codes), and
:class:`FlatDedupIndex` / :class:`MihDedupIndex` (the same over each distinct code once, for codes that
repeat) share :class:`~nash_index.index.base.BaseIndex`; :func:`make_index` chooses between them;
:func:`load` reads any saved kind. Every argument check of the package lives in
:mod:`nash_index.index.validation`.
"""
from __future__ import annotations

from .base import BaseIndex, from_bytes, load, registered_kinds
from .build import build_mih_file
from .cluster import ClusterScanIndex
from .codes import binarize, pack_bits, unpack_bits
from .dedup import FlatDedupIndex, MihDedupIndex
from .factory import INDEX_KINDS, duplicate_share, make_index
from .flat import FlatIndex
from .mih import MultiIndexHashing, SearchWork
from .rescore import RescoredResult, rescore
from .results import RangeSearchResult, SearchResult
from .runtime import detected_simd_level, get_num_threads, get_search_slots, set_num_threads, set_search_slots, set_simd_level, simd_level

__all__ = [
    "INDEX_KINDS",
    "BaseIndex",
    "ClusterScanIndex",
    "FlatDedupIndex",
    "FlatIndex",
    "MihDedupIndex",
    "MultiIndexHashing",
    "RangeSearchResult",
    "RescoredResult",
    "SearchResult",
    "SearchWork",
    "binarize",
    "build_mih_file",
    "detected_simd_level",
    "duplicate_share",
    "from_bytes",
    "get_num_threads",
    "get_search_slots",
    "load",
    "make_index",
    "pack_bits",
    "registered_kinds",
    "rescore",
    "set_num_threads",
    "set_search_slots",
    "set_simd_level",
    "simd_level",
    "unpack_bits",
]
