"""Beyond one machine: the exact Hamming index sharded over Ray actors (optional extra ``distributed``).

:class:`ShardedIndex` serves a directory of shard files (FlatIndex or MultiIndexHashing, any mix)
with one Ray actor per shard; :func:`encode_to_shards` is the Ray Data job that encodes a corpus
too large for one process into such a directory. :func:`serve` answers searches of a saved
pipeline (or of a sharded index) over HTTP on Ray Serve (:mod:`.serve_app`). ``pip install
nash_index[distributed]`` installs Ray. This is the only package that imports Ray.
"""
from __future__ import annotations

from .encode import encode_to_shards
from .fanout import ShardUnavailableError
from .routing import shard_of
from .sharded import ShardedIndex

__all__ = ["Server", "ShardUnavailableError", "ShardedIndex", "encode_to_shards", "run_server", "serve", "shard_of"]

_SERVING = ("Server", "run_server", "serve")


def __getattr__(name: str):
    """The serving API, imported on first use: Ray Serve (and its web stack) loads only when serving."""
    if name in _SERVING:
        from . import serve_app

        return getattr(serve_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
