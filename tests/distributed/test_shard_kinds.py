"""Shards of every registered index kind (the core's registry, not a list kept here): the example
kind "sorted" (cpp/test_kinds, a C++ source and header and nothing else) makes shards that answer
exactly like one FlatIndex over all the codes, alone or mixed with flat and MIH shards."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import EXAMPLE_KIND, KINDS, assert_same_as, clustered_codes, oracle_range, require_example_kind
from nash_index.distributed.store import SHARD_KINDS, ShardStore


def test_flat_and_mih_lead_the_shard_kinds():
    assert SHARD_KINDS[:2] == ("flat", "mih")
    with pytest.raises(ValueError, match=r"^kind must be one of"):
        ShardStore.create("unused", 0, 64, "auto")  # resolved by ShardedIndex before a shard is made


@pytest.mark.parametrize("kind", KINDS)
def test_a_shard_of_each_kind_survives_reopen_and_compaction(tmp_path, kind):
    rng = np.random.default_rng(2)
    codes = clustered_codes(rng, 400, 64, centres=4, p=0.06)
    ids = rng.permutation(400).astype(np.int64) * 3 + 1
    ShardStore.create(tmp_path, 0, 64, kind)
    store = ShardStore(tmp_path, 0)
    store.add(codes, ids, b"a" * 16)
    assert store.remove(ids[:50], b"b" * 16) == 50
    store.close()
    flat = ni.FlatIndex(64)
    flat.add(codes[50:], ids[50:])
    for step in ("reopen", "compact", "reopen"):
        store = ShardStore(tmp_path, 0)
        assert store.index.kind == kind
        assert_same_as(store.index, flat, codes[::20], ks=(1, 10, 400))
        if step == "compact":
            store.compact()
        store.close()


@pytest.mark.parametrize("kinds", [EXAMPLE_KIND, [EXAMPLE_KIND, "flat", "mih"]], ids=["example", "mixed"])
def test_sharded_index_of_the_example_kind_equals_flat(ray_local, tmp_path, kinds):
    require_example_kind()
    from nash_index.distributed import ShardedIndex

    rng = np.random.default_rng(5)
    codes = clustered_codes(rng, 1500, 64, centres=6, p=0.05)
    codes[:200] = codes[0]  # ties across shards: decided by id
    ids = rng.permutation(1500).astype(np.int64) * 7 + 2
    queries = np.concatenate([codes[:5], clustered_codes(rng, 10, 64, centres=6, p=0.05)])
    flat = ni.FlatIndex(64)
    flat.add(codes, ids)
    with ShardedIndex.create(tmp_path / "s", 64, 3, kind=kinds) as index:
        index.add(codes[:700], ids[:700])
        index.add(codes[700:], ids[700:])
        assert_same_as(index, flat, queries, ks=(1, 10, 250, 1600))
        assert index.remove(ids[::4]) == flat.remove(ids[::4])
        assert_same_as(index, flat, queries, ks=(1, 10, 250))
        got = index.range_search(queries, 9)
        lims, distances, want_ids = oracle_range(flat.codes(), flat.ids(), queries, 9)
        np.testing.assert_array_equal(got.lims, lims)
        np.testing.assert_array_equal(got.distances, distances)
        np.testing.assert_array_equal(got.ids, want_ids)
    with ShardedIndex.open(tmp_path / "s") as reopened:
        assert_same_as(reopened, flat, queries, ks=(1, 10, 250))
    shard_kinds = [ShardStore(tmp_path / "s", s).index.kind for s in range(3)]
    assert shard_kinds == ([kinds] * 3 if isinstance(kinds, str) else kinds)
