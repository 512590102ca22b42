"""ShardedIndex on a local Ray cluster: exactly one FlatIndex over all the codes (and the numpy
oracle), whatever the split: 1-4 shards, empty and uneven ones, flat and MIH shards, 64/128/256 bits,
heavy ties, k beyond a shard, range search, removals."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_same_as, clustered_codes, oracle_knn, oracle_range, start_local_ray

pytest.importorskip("ray", reason="nash_index[distributed] (Ray) is not installed")
from nash_index.distributed import ShardedIndex, shard_of  # noqa: E402

# (num_shards, nbits, kinds, shard weights: a zero leaves that shard empty)
LAYOUTS = [
    (1, 64, "flat", [1.0]),
    (2, 128, ["mih", "flat"], [0.8, 0.2]),
    (3, 256, "mih", [0.5, 0.0, 0.5]),
    (4, 64, ["flat", "mih", "mih", "flat"], [0.05, 0.6, 0.3, 0.05]),
]


def _ids_for(rng, n, num_shards, weights):
    """n unique ids whose routed shards follow ``weights`` (uneven, some shards empty)."""
    pool = rng.permutation(50 * n).astype(np.int64)
    owner = shard_of(pool, num_shards)
    want = np.round(np.asarray(weights) * n).astype(int)
    want[np.argmax(want)] += n - want.sum()
    return rng.permutation(np.concatenate([pool[owner == s][:want[s]] for s in range(num_shards)]))


@pytest.fixture(scope="module", params=range(len(LAYOUTS)), ids=[f"{s}shards-{b}bit" for s, b, _, _ in LAYOUTS])
def layout(request, tmp_path_factory):
    """One sharded index per layout, shared by the tests below (the last one, remove, changes it)."""
    start_local_ray()
    num_shards, nbits, kinds, weights = LAYOUTS[request.param]
    rng = np.random.default_rng(request.param)
    n = 3000
    codes = clustered_codes(rng, n, nbits, centres=12, p=0.05)
    codes[:400] = codes[0]  # heavy ties: 400 identical codes, split over the shards
    ids = _ids_for(rng, n, num_shards, weights)
    index = ShardedIndex.create(tmp_path_factory.mktemp("layout") / "idx", nbits, num_shards, kind=kinds)
    index.add(codes[:1000], ids[:1000])
    index.add(codes[1000:], ids[1000:])
    flat = ni.FlatIndex(nbits)
    flat.add(codes, ids)
    yield index, flat, codes, ids, weights
    index.close()


def test_search_equals_one_flat_index(layout):
    index, flat, codes, ids, weights = layout
    sizes = index.shard_sizes()
    assert sum(sizes) == len(index) == index.ntotal == codes.shape[0]
    assert [s == 0 for s in sizes] == [w == 0 for w in weights]
    rng = np.random.default_rng(7)
    queries = np.concatenate([codes[:3], codes[rng.integers(0, codes.shape[0], 40)],
                              rng.integers(0, 256, (5, index.code_size), dtype=np.uint8)])
    biggest = max(sizes)
    assert_same_as(index, flat, queries, ks=(1, 10, 100, biggest + 5, codes.shape[0] + 10))
    for single in (queries[0], queries[:1]):  # one query as 1-D, and a one-row batch
        got, want = index.search(single, 10), flat.search(single, 10)
        np.testing.assert_array_equal(got.ids, want.ids)
    want = oracle_knn(codes, ids, queries[:5], 10)  # and the numpy oracle, independent of FlatIndex
    np.testing.assert_array_equal(index.search(queries[:5], 10).ids, want[1])


def test_range_search_equals_one_flat_index(layout):
    index, flat, codes, ids, _ = layout
    queries = codes[::300]
    for radius in (0, 4, index.nbits // 4):
        got = index.range_search(queries, radius)
        want = oracle_range(codes, ids, queries, radius)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(got, flat.range_search(queries, radius)):
            np.testing.assert_array_equal(a, b)


def test_remove_reaches_every_shard(layout):
    index, flat, codes, ids, _ = layout
    gone = np.concatenate([ids[:50], [10**12, -3]])
    assert index.remove(gone) == flat.remove(gone) == 50
    assert index.remove(int(ids[60])) == 1 and flat.remove(int(ids[60])) == 1
    assert len(index) == len(flat)
    assert_same_as(index, flat, codes[:20])
