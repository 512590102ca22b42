"""Merging the shards' answers into the answer of one index over all their codes.

Why the k-NN merge is exact: every index orders results by (distance, id), and ids are unique
across shards. Take any code c in the global top-k. Every code that precedes c in its own shard
also precedes it globally, and fewer than k codes do; so c is in its shard's top-k. The union of
the shards' top-k lists therefore holds the whole global top-k, and sorting that union by
(distance, id) and keeping k gives it exactly, ties included. Padding (id -1, distance INT32_MAX)
sorts after every real distance, so a short shard never displaces a real neighbour.

Range results need no such argument: each shard returns all its codes within the radius, and the
merge concatenates them per query and sorts by (distance, id), the local indexes' order.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = ["merge_knn", "merge_range"]


def merge_knn(parts: Sequence[Tuple[np.ndarray, np.ndarray]], k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Global (distances, ids), each (nq, k), from the shards' (distances, ids) of shape (nq, k)."""
    if len(parts) == 1:
        return parts[0]
    distances = np.concatenate([p[0] for p in parts], axis=1)
    ids = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((ids, distances), axis=-1)[:, :k]
    return (np.ascontiguousarray(np.take_along_axis(distances, order, axis=1)),
            np.ascontiguousarray(np.take_along_axis(ids, order, axis=1)))


def merge_range(parts: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]], nq: int
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global CSR (lims, distances, ids) from the shards' CSR results for the same ``nq`` queries."""
    if len(parts) == 1:
        return parts[0]
    query = np.concatenate([np.repeat(np.arange(nq, dtype=np.int64), np.diff(p[0])) for p in parts])
    distances = np.concatenate([p[1] for p in parts]).astype(np.int32, copy=False)
    ids = np.concatenate([p[2] for p in parts]).astype(np.int64, copy=False)
    order = np.lexsort((ids, distances, query))
    lims = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(np.bincount(query, minlength=nq), out=lims[1:])
    return lims, distances[order], ids[order]
