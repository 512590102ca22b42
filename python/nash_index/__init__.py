"""nash_index: semantic hashing (NASH) and exact Hamming search.

Layers, each a subpackage (dependencies run one way, top to bottom):

* ``cli``: the ``nash-index`` command line;
* ``pipeline``: :class:`HashingPipeline`, text to neighbours, saved as one directory;
* ``datasets``, ``text``: corpora; the TF-IDF vectorizer and the hasher registry;
* ``models`` (NASH, VDSH: the only torch users), ``baselines`` (LSH, SpH, STH, PCA-ITQ);
* ``evaluation``: precision@k and the label conversions;
* ``index``: FlatIndex, MultiIndexHashing, make_index, load (numpy only); ``from_faiss``, ``to_faiss``
  and ``read_faiss`` convert faiss's binary flat indexes (faiss imported on first use).

The index side needs only numpy; the models (``nash_index.NASH``) import torch lazily, on first use.
"""
from __future__ import annotations

from typing import Any

from . import index
from .index import *  # noqa: F403 -- the index layer's API is the package's API
from .index.faiss_interop import from_faiss, read_faiss, to_faiss
from .pipeline import HashingPipeline
from .version import __version__

__all__ = [*index.__all__, "HashingPipeline", "NASH", "VDSH", "__version__", "from_faiss", "read_faiss", "to_faiss"]  # noqa: F405 (NASH, VDSH: lazy)

_LAZY = {"NASH": "nash_index.models", "VDSH": "nash_index.models"}


def __getattr__(name: str) -> Any:
    # torch is imported only when a model is asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nash_index' has no attribute {name!r}")
