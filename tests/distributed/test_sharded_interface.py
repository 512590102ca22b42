"""ShardedIndex is a BaseIndex: the local indexes' error, type and message, for every bad argument
(one validation path), and reconstruct / codes / ids / reset exactly as one FlatIndex holding the
same codes, reset surviving a reopen and a killed actor."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_same_as, clustered_codes
from nash_index.index import BaseIndex

pytest.importorskip("ray", reason="nash_index[distributed] (Ray) is not installed")
from nash_index.distributed import ShardedIndex, shard_of  # noqa: E402

Q = np.zeros((2, 8), np.uint8)
BAD_CALLS = {
    "queries of another code size": lambda ix: ix.search(np.zeros((2, 4), np.uint8), 5),
    "float queries": lambda ix: ix.search(Q.astype(np.float32), 5),
    "3-D queries": lambda ix: ix.search(np.zeros((2, 1, 8), np.uint8), 5),
    "k = 0": lambda ix: ix.search(Q, 0),
    "k a float": lambda ix: ix.search(Q, 2.0),
    "k a bool": lambda ix: ix.search(Q, True),
    "k beyond int32": lambda ix: ix.search(Q, 2**31),
    "num_threads 0": lambda ix: ix.search(Q, 1, num_threads=0),
    "num_threads 2000": lambda ix: ix.search(Q, 1, num_threads=2000),
    "num_threads a string": lambda ix: ix.range_search(Q, 1, num_threads="2"),
    "radius -1": lambda ix: ix.range_search(Q, -1),
    "radius a float": lambda ix: ix.range_search(Q, 1.5),
    "range queries of another code size": lambda ix: ix.range_search(np.zeros((1, 9), np.uint8), 1),
    "repeated ids": lambda ix: ix.add(np.zeros((3, 8), np.uint8), [1, 1, 2]),
    "too few ids": lambda ix: ix.add(np.zeros((3, 8), np.uint8), [1, 2]),
    "a negative id": lambda ix: ix.add(np.zeros((2, 8), np.uint8), [-1, 2]),
    "float ids": lambda ix: ix.add(np.zeros((2, 8), np.uint8), [1.0, 2.0]),
    "an id in use": lambda ix: ix.add(np.zeros((1, 8), np.uint8), [3]),
    "1-D codes": lambda ix: ix.add(np.zeros(8, np.uint8)),
    "int64 codes": lambda ix: ix.add(np.zeros((2, 8), np.int64)),
    "remove a string": lambda ix: ix.remove("ids"),
    "remove floats": lambda ix: ix.remove([1.5]),
    "remove beyond int64": lambda ix: ix.remove([2**64]),
    "reconstruct a string": lambda ix: ix.reconstruct("3"),
    "reconstruct a float": lambda ix: ix.reconstruct(3.0),
    "reconstruct -1": lambda ix: ix.reconstruct(-1),
    "reconstruct beyond int64": lambda ix: ix.reconstruct(2**63),
    "reconstruct an absent id": lambda ix: ix.reconstruct(10**9),
}


def _pair(tmp_path, name, n, nbits=64, shards=3, kinds=("flat", "mih", "flat"), seed=0):
    """(a sharded index, a FlatIndex) holding the same n codes under the same scattered ids."""
    rng = np.random.default_rng(seed)
    codes = clustered_codes(rng, n, nbits, centres=8, p=0.05)
    ids = rng.permutation(20 * n)[:n].astype(np.int64)
    index = ShardedIndex.create(tmp_path / name, nbits, shards, kind=list(kinds))
    flat = ni.FlatIndex(nbits)
    for part in np.array_split(np.arange(n), 2):
        index.add(codes[part], ids[part])
        flat.add(codes[part], ids[part])
    return index, flat, codes, ids


def _assert_same_contents(index, flat):
    """codes()/ids(): the flat index's pairs (documented order: shard by shard), same dtypes and shapes."""
    codes, ids = index.codes(), index.ids()
    assert codes.dtype == np.uint8 and ids.dtype == np.int64
    assert codes.shape == flat.codes().shape and ids.shape == flat.ids().shape
    assert np.all(np.diff(shard_of(ids, index.num_shards)) >= 0)  # shard order
    mine, theirs = np.argsort(ids), np.argsort(flat.ids())
    np.testing.assert_array_equal(ids[mine], flat.ids()[theirs])
    np.testing.assert_array_equal(codes[mine], flat.codes()[theirs])


def test_is_a_base_index_and_still_made_by_create_or_open(ray_local, tmp_path):
    with ShardedIndex.create(tmp_path / "b", 64, 2) as index:
        assert isinstance(index, BaseIndex) and index.code_size == 8 and len(index) == 0
    with pytest.raises(TypeError, match="ShardedIndex.create"):
        ShardedIndex()


def test_same_errors_as_a_flat_index(ray_local, tmp_path):
    index, flat, _, _ = _pair(tmp_path, "e", 40, shards=2, kinds=("flat", "mih"))
    with index:
        index.add(np.zeros((1, 8), np.uint8), [3])
        flat.add(np.zeros((1, 8), np.uint8), [3])
        for what, call in BAD_CALLS.items():
            with pytest.raises(Exception) as local:
                call(flat)
            with pytest.raises(type(local.value)) as sharded:
                call(index)
            assert str(sharded.value) == str(local.value), what
        assert len(index) == len(flat) == 41  # nothing was changed by a refused call
        _assert_same_contents(index, flat)


def test_reconstruct_codes_and_ids_equal_a_flat_index(ray_local, tmp_path):
    index, flat, codes, ids, = _pair(tmp_path, "r", 1500, nbits=128, kinds=("mih", "flat", "mih"))
    with index:
        for i in [*ids[:40], ids.max(), np.int64(ids[7])]:
            got = index.reconstruct(i)
            assert got.dtype == np.uint8 and got.shape == (16,)
            np.testing.assert_array_equal(got, flat.reconstruct(i))
        _assert_same_contents(index, flat)
        gone = ids[::3]
        assert index.remove(gone) == flat.remove(gone) == gone.size
        with pytest.raises(KeyError):
            index.reconstruct(int(gone[0]))
        _assert_same_contents(index, flat)
    with ShardedIndex.create(tmp_path / "empty", 128, 2) as empty:
        _assert_same_contents(empty, ni.FlatIndex(128))


def test_reset_equals_a_flat_index_and_is_durable(ray_local, tmp_path):
    ray = ray_local
    index, flat, codes, ids = _pair(tmp_path, "z", 900, seed=1)
    with index:
        index.reset()
        flat.reset()
        assert len(index) == 0 and index.shard_sizes() == [0, 0, 0]
        assert_same_as(index, flat, codes[:4], ks=(1, 5))  # all padding
        _assert_same_contents(index, flat)
        index.add(codes[:300])  # default ids start at 0 again, as after FlatIndex.reset
        flat.add(codes[:300])
        np.testing.assert_array_equal(np.sort(index.ids()), np.arange(300))
        ray.kill(index.actors[1], no_restart=False)  # restarts from its files: still reset, then the add
        assert_same_as(index, flat, codes[::50], ks=(1, 10))
        _assert_same_contents(index, flat)
    with ShardedIndex.open(tmp_path / "z") as index:
        assert len(index) == 300
        _assert_same_contents(index, flat)
        index.add(codes[300:310])  # the largest id survived the reopen: default ids go on at 300
        flat.add(codes[300:310])
        _assert_same_contents(index, flat)
        index.reset()
        flat.reset()
    with ShardedIndex.open(tmp_path / "z") as index:
        _assert_same_contents(index, flat)
        assert_same_as(index, flat, codes[:3], ks=(2,))


def test_closed_index_refuses_every_call(ray_local, tmp_path):
    index = ShardedIndex.create(tmp_path / "c", 64, 2)
    index.add(np.zeros((2, 8), np.uint8))
    index.close()
    calls = [lambda: index.search(Q, 1), lambda: index.range_search(Q, 1), lambda: index.add(Q),
             lambda: index.remove([0]), lambda: index.reconstruct(0), lambda: index.reset(),
             lambda: index.codes(), lambda: index.ids(), lambda: len(index), lambda: index.save()]
    for call in calls:
        with pytest.raises(RuntimeError, match="closed"):
            call()
