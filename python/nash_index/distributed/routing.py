"""Which shard owns an id: one documented rule shared by ``ShardedIndex.add`` and ``encode_to_shards``.

``shard = splitmix64(id) mod num_shards``: the SplitMix64 finaliser scrambles the id's bits, so
consecutive ids, strided ids (all even, multiples of 1000) and ids with a constant prefix all
spread evenly over the shards, and the owner of an id is known without asking any shard.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ROUTING_RULE", "shard_of"]

#: The rule's name, recorded in the manifest so that a future rule cannot be mixed up with it.
ROUTING_RULE = "splitmix64-mod"

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def shard_of(ids: np.ndarray, num_shards: int) -> np.ndarray:
    """The shard number (int64, 0..num_shards-1) of each id (int64, >= 0)."""
    z = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(num_shards)).astype(np.int64)
