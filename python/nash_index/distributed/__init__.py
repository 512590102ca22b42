"""Beyond one machine: the exact Hamming index sharded over Ray actors (optional extra ``distributed``).

:class:`ShardedIndex` serves a directory of shard files (FlatIndex or MultiIndexHashing, any mix)
with one Ray actor per shard; :func:`encode_to_shards` is the Ray Data job that encodes a corpus
too large for one process into such a directory. ``pip install nash_index[distributed]`` installs
Ray. This is the only package that imports Ray.
"""
from __future__ import annotations

from .encode import encode_to_shards
from .fanout import ShardUnavailableError
from .routing import shard_of
from .sharded import ShardedIndex

__all__ = ["ShardUnavailableError", "ShardedIndex", "encode_to_shards", "shard_of"]
