"""Merging shard answers (no Ray): equal to one index over all codes, for any split, ties included;
and the routing rule spreads any id pattern evenly."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import oracle_knn, oracle_range
from nash_index.distributed.merge import merge_knn, merge_range
from nash_index.distributed.routing import shard_of


def _split(rng, n, num_shards, skew):
    """Shard of each code: uneven (``skew``) and sometimes leaving shards empty."""
    weights = rng.dirichlet(np.full(num_shards, skew))
    return rng.choice(num_shards, size=n, p=weights)


@pytest.mark.parametrize("num_shards", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1, 10, 100, 700])
def test_knn_merge_equals_one_index(num_shards, k):
    rng = np.random.default_rng(num_shards * 1000 + k)
    n, code_size = 600, 2
    codes = rng.integers(0, 4, size=(n, code_size), dtype=np.uint8)  # 16-bit, few values: heavy ties
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    owner = _split(rng, n, num_shards, skew=0.3)
    queries = codes[:20]
    parts = []
    for s in range(num_shards):
        shard = ni.FlatIndex(16)
        shard.add(np.ascontiguousarray(codes[owner == s]), ids[owner == s])
        parts.append(tuple(shard.search(queries, k)))
    distances, got_ids = merge_knn(parts, k)
    want_d, want_i = oracle_knn(codes, ids, queries, k)
    np.testing.assert_array_equal(got_ids, want_i)
    np.testing.assert_array_equal(distances, want_d)
    assert distances.dtype == np.int32 and got_ids.dtype == np.int64


@pytest.mark.parametrize("num_shards", [1, 3, 4])
@pytest.mark.parametrize("radius", [0, 3, 16])
def test_range_merge_equals_one_index(num_shards, radius):
    rng = np.random.default_rng(num_shards + 10 * radius)
    n = 400
    codes = rng.integers(0, 256, size=(n, 2), dtype=np.uint8) & 0x0F
    ids = rng.permutation(n).astype(np.int64)
    owner = _split(rng, n, num_shards, skew=0.5)
    queries = np.concatenate([codes[:10], np.full((2, 2), 0xFF, dtype=np.uint8)])  # some with no hit
    parts = []
    for s in range(num_shards):
        shard = ni.FlatIndex(16)
        shard.add(np.ascontiguousarray(codes[owner == s]), ids[owner == s])
        parts.append(tuple(shard.range_search(queries, radius)))
    lims, distances, got_ids = merge_range(parts, queries.shape[0])
    want = oracle_range(codes, ids, queries, radius)
    for got, exp in zip((lims, distances, got_ids), want):
        np.testing.assert_array_equal(got, exp)


def test_merge_by_hand():
    """Two shards, k = 3: the tie at distance 1 is broken by id across shards."""
    a = (np.array([[0, 1, 5]], dtype=np.int32), np.array([[9, 8, 2]], dtype=np.int64))
    b = (np.array([[1, 1, 2**31 - 1]], dtype=np.int32), np.array([[3, 11, -1]], dtype=np.int64))
    d, i = merge_knn([a, b], 3)
    assert d.tolist() == [[0, 1, 1]] and i.tolist() == [[9, 3, 8]]


@pytest.mark.parametrize("pattern", ["consecutive", "even", "thousands", "high"])
def test_routing_spreads_any_id_pattern(pattern):
    base = np.arange(40000, dtype=np.int64)
    ids = {"consecutive": base, "even": 2 * base, "thousands": 1000 * base, "high": (1 << 62) + base}[pattern]
    for num_shards in (2, 3, 4, 7):
        counts = np.bincount(shard_of(ids, num_shards), minlength=num_shards)
        assert counts.min() > 0.9 * ids.size / num_shards


def _splitmix64(x: int) -> int:
    """The reference SplitMix64 output for state ``x`` (Steele, Lea & Flood 2014), in plain Python."""
    mask = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_routing_rule_is_splitmix64():
    """The rule is part of the on-disk format: shard = splitmix64(id) mod num_shards, exactly."""
    assert _splitmix64(0) == 0xE220A8397B1DCDAF  # the generator's well-known first output from seed 0
    ids = np.concatenate([np.arange(100), np.array([2**31, 2**32 + 7, 2**62, 2**63 - 1])]).astype(np.int64)
    for num_shards in (1, 2, 5, 1000):
        want = [_splitmix64(int(i)) % num_shards for i in ids]
        assert shard_of(ids, num_shards).tolist() == want
