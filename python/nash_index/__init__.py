"""nash_index: semantic hashing (NASH) and exact Hamming search.

The index side (FlatIndex, MultiIndexHashing, make_index, pack_bits, load) needs only
numpy; the models (``nash_index.NASH``, ``nash_index.models``) import torch
lazily, on first use.
"""
from __future__ import annotations

from typing import Any

from .codes import pack_bits, unpack_bits
from .factory import make_index
from .flat import FlatIndex
from .mih import MultiIndexHashing
from .persistence import load
from .results import RangeSearchResult, SearchResult
from .runtime import detected_simd_level, get_num_threads, set_num_threads, set_simd_level, simd_level

__version__ = "0.1.0"

__all__ = [
    "FlatIndex",
    "MultiIndexHashing",
    "RangeSearchResult",
    "SearchResult",
    "detected_simd_level",
    "get_num_threads",
    "load",
    "make_index",
    "pack_bits",
    "set_num_threads",
    "set_simd_level",
    "simd_level",
    "unpack_bits",
    "NASH",
    "VDSH",
]

_LAZY = {"NASH": "nash_index.models", "VDSH": "nash_index.models"}


def __getattr__(name: str) -> Any:
    # torch is imported only when a model is asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nash_index' has no attribute {name!r}")
