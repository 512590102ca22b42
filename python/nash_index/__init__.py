"""nash_index: semantic hashing (NASH) and exact Hamming search.

Layers, each a subpackage (dependencies run one way, top to bottom):

* ``cli``: the ``nash-index`` command line;
* ``pipeline``: :class:`HashingPipeline`, text to neighbours, saved as one directory;
* ``datasets``, ``text``: corpora; the TF-IDF vectorizer and the hasher registry;
* ``models`` (NASH, VDSH: the only torch users), ``baselines`` (LSH, SpH, STH, PCA-ITQ);
* ``evaluation``: precision@k and the label conversions;
* ``index``: FlatIndex, MultiIndexHashing, make_index, load (numpy only).

The index side needs only numpy; the models (``nash_index.NASH``) import torch lazily, on first use.
"""
from __future__ import annotations

from typing import Any

from . import index
from .index import *  # noqa: F403 -- the index layer's API is the package's API
from .pipeline import HashingPipeline
from .version import __version__

__all__ = [*index.__all__, "HashingPipeline", "NASH", "VDSH", "__version__"]  # noqa: F405 (NASH, VDSH: lazy)

_LAZY = {"NASH": "nash_index.models", "VDSH": "nash_index.models"}


def __getattr__(name: str) -> Any:
    # torch is imported only when a model is asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nash_index' has no attribute {name!r}")
