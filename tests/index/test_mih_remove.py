"""MultiIndexHashing removal (issue #12): tombstones instead of rebuilds, compaction aside,
and exactness against the numpy oracle after any interleaving of add / remove / search /
range_search / optimize / save / load / pickle."""
from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, scrambled_ids, uniform_codes
from nash_index.index import synthetic

PAD_ID = -1


class Model:
    """What the index must hold: codes and ids in storage order (insertion order, removals dropped)."""

    def __init__(self, nbits: int) -> None:
        self.codes = np.zeros((0, nbits // 8), dtype=np.uint8)
        self.ids = np.zeros(0, dtype=np.int64)

    def add(self, codes: np.ndarray, ids: np.ndarray) -> None:
        self.codes = np.concatenate([self.codes, codes])
        self.ids = np.concatenate([self.ids, ids])

    def remove(self, ids) -> int:
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        self.codes, self.ids = self.codes[keep], self.ids[keep]
        return removed


def check(index, model: Model, queries: np.ndarray, k: int, radius: int) -> None:
    assert index.ntotal == len(model.ids)
    np.testing.assert_array_equal(index.ids(), model.ids)
    np.testing.assert_array_equal(index.codes(), model.codes)
    assert_knn_matches(index.search(queries, k), model.codes, model.ids, queries, k)
    assert_range_matches(index.range_search(queries, radius), model.codes, model.ids, queries, radius)
    assert 0 <= index.indexed <= index.ntotal


def reload(index, how: str, tmp_path):
    """The index after a round trip: a file (read or mapped), pickle or deepcopy."""
    if how in ("file", "mmap"):
        path = tmp_path / "mih.nidx"
        index.save(path)
        return ni.load(path, mmap=how == "mmap")
    if how == "pickle":
        return pickle.loads(pickle.dumps(index))
    return copy.deepcopy(index)


OPS = ("add", "add_back", "remove", "remove_tail", "search", "optimize", "reload")


@settings(max_examples=40, deadline=None)
@given(
    nbits=st.sampled_from([16, 32, 64, 128]),
    seed=st.integers(0, 2**32 - 1),
    ops=st.lists(st.sampled_from(OPS), min_size=4, max_size=14),
    fallback=st.sampled_from(["never", "never", "auto", "always"]),
)
def test_interleavings_match_oracle(tmp_path_factory, nbits, seed, ops, fallback):
    rng = np.random.default_rng(seed)
    centres = synthetic.random_centres(4, nbits, rng)
    index, model = ni.MultiIndexHashing(nbits), Model(nbits)
    index.set_fallback(fallback)
    next_id = 0
    removed_ids: list = []
    tmp = tmp_path_factory.mktemp("mih")
    for op in ops:
        if op == "add":  # sizes around the tail rule (256 codes, 1/16) and the tombstone rule (1/8)
            n = int(rng.choice([1, 40, 300, 900]))
            ids = rng.permutation(np.arange(next_id, next_id + n, dtype=np.int64)) * 3 + 1
            next_id += n
            codes = clustered_codes(rng, n, nbits, centres=centres, p=0.1)
            index.add(codes, ids)
            model.add(codes, ids)
        elif op == "add_back" and removed_ids:  # ids removed earlier come back with new codes
            ids = np.unique(np.asarray(removed_ids[: int(rng.integers(1, 50))], dtype=np.int64))
            del removed_ids[: len(ids)]
            ids = ids[~np.isin(ids, model.ids)]
            codes = clustered_codes(rng, len(ids), nbits, centres=centres, p=0.1)
            index.add(codes, ids)
            model.add(codes, ids)
        elif op in ("remove", "remove_tail"):
            live = model.ids[-60:] if op == "remove_tail" else model.ids
            share = float(rng.choice([0.01, 0.05, 0.2, 1.0]))
            picked = rng.choice(live, int(len(live) * share), replace=False) if len(live) else live
            doomed = np.concatenate([picked, np.array([-5, 10**12], dtype=np.int64)])  # absent ids: ignored
            rng.shuffle(doomed)
            assert index.remove(doomed) == model.remove(doomed)
            removed_ids.extend(picked.tolist())
        elif op == "optimize":
            index.optimize()
            assert index.tombstones == 0 and index.indexed == index.ntotal
        elif op == "reload":
            index = reload(index, str(rng.choice(["file", "mmap", "pickle", "deepcopy"])), tmp)
            assert index.fallback == fallback
        queries = np.concatenate([model.codes[:2], clustered_codes(rng, 3, nbits, centres=centres, p=0.1)])
        check(index, model, queries, int(rng.choice([1, 5, 40, 2000])), int(rng.integers(0, nbits // 3)))


def build(n=6000, nbits=64, seed=1, ids=None):
    rng = np.random.default_rng(seed)
    centres = synthetic.random_centres(8, nbits, rng)
    db = clustered_codes(rng, n, nbits, centres=centres, p=0.08)
    queries = clustered_codes(rng, 20, nbits, centres=centres, p=0.08)
    index = ni.MultiIndexHashing(nbits)
    index.set_fallback("never")  # every query walks the tables, tombstones included
    index.add(db, ids)
    model = Model(nbits)
    model.add(db, np.arange(n, dtype=np.int64) if ids is None else ids)
    return index, model, queries


def test_remove_leaves_tombstones_until_one_eighth():
    index, model, queries = build()
    m = index.m
    for i in range(0, 700, 7):  # 100 single removals, well under 1/8 of 6000
        assert index.remove([i]) == model.remove([i]) == 1
    assert index.tombstones == 100 and index.indexed == index.ntotal == 5900 and index.m == m
    check(index, model, queries, 10, 12)
    assert not index.search_with_work(queries, 10)[1].scanned.any()  # answered by the tables
    doomed = model.ids[1000:1700]  # past 750 tombstones: the tables are rebuilt over the survivors
    assert index.remove(doomed) == model.remove(doomed)
    assert index.tombstones == 0 and index.indexed == index.ntotal == 5200
    check(index, model, queries, 10, 12)


def test_remove_everything_then_add_again():
    index, model, queries = build(n=2000, ids=scrambled_ids(np.random.default_rng(3), 2000))
    assert index.remove(model.ids[::-1]) == model.remove(model.ids) == 2000
    assert index.ntotal == 0 and index.indexed == 0
    res = index.search(queries, 5)
    assert (res.ids == PAD_ID).all() and (res.distances == np.iinfo(np.int32).max).all()
    assert index.range_search(queries, 64).ids.size == 0
    assert index.remove([1, 2, 3]) == 0
    codes = uniform_codes(np.random.default_rng(4), 30, 64)
    index.add(codes, np.arange(30))
    model.add(codes, np.arange(30))
    check(index, model, queries, 50, 20)  # fewer codes than k: padded


def test_remove_then_add_back_same_ids():
    index, model, queries = build(n=4000)
    doomed = np.arange(100, 400)
    index.remove(doomed)
    model.remove(doomed)
    codes = uniform_codes(np.random.default_rng(5), 300, 64)  # other codes under the same ids
    index.add(codes, doomed)
    model.add(codes, doomed)
    check(index, model, queries, 20, 15)
    assert index.remove(doomed) == model.remove(doomed) == 300
    check(index, model, queries, 20, 15)


def test_absent_and_repeated_ids():
    ids = np.arange(3000, dtype=np.int64) * 2
    index, model, queries = build(n=3000, ids=ids)
    flat = ni.FlatIndex(64)
    flat.add(model.codes, ids)
    assert index.remove(np.zeros(0, dtype=np.int64)) == 0
    assert index.remove([1, 3, -2, 10**15]) == 0  # odd ids are absent
    assert index.remove(np.array([[8, 10], [12, 3]])) == model.remove([8, 10, 12]) == 3  # any shape
    flat.remove([8, 10, 12])
    # a repeated id counts once, in both kinds
    for doomed, count in (([4, 4, 4, 6, 5], 2), ([14, 14], 1)):
        assert flat.remove(doomed) == count
        assert index.remove(doomed) == count
        model.remove(doomed)
    check(index, model, queries, 10, 10)
    np.testing.assert_array_equal(index.ids(), flat.ids())


def test_remove_from_the_tail_and_the_tables():
    index, model, queries = build(n=8000)
    extra = uniform_codes(np.random.default_rng(6), 200, 64)  # under 1/16: the scanned tail
    index.add(extra, np.arange(10**6, 10**6 + 200))
    model.add(extra, np.arange(10**6, 10**6 + 200))
    assert (index.indexed, index.ntotal) == (8000, 8200)
    doomed = np.concatenate([np.arange(10**6, 10**6 + 200, 3), np.arange(0, 8000, 97)])
    assert index.remove(doomed) == model.remove(doomed)
    assert index.indexed == 8000 - len(range(0, 8000, 97)) and index.tombstones == len(range(0, 8000, 97))
    check(index, model, queries, 10, 14)
    index.optimize()
    assert index.tombstones == 0 and index.indexed == index.ntotal
    check(index, model, queries, 10, 14)


@pytest.mark.parametrize("scrambled", [False, True])
def test_mmap_loaded_index_then_remove(tmp_path, scrambled):
    ids = scrambled_ids(np.random.default_rng(7), 5000) if scrambled else None
    index, model, queries = build(n=5000, ids=ids)
    index.save(tmp_path / "mih.nidx")
    loaded = ni.load(tmp_path / "mih.nidx", mmap=True)
    assert loaded.is_mapped and loaded.fallback == "never"
    doomed = model.ids[10:60]
    assert loaded.remove(doomed) == model.remove(doomed) == 50
    assert not loaded.is_mapped and loaded.tombstones == 50
    check(loaded, model, queries, 10, 12)
    loaded.save(tmp_path / "after.nidx")  # the live codes, the tables and their tombstones (no rebuild at load)
    again = ni.load(tmp_path / "after.nidx")
    assert again.ntotal == 4950 and again.tombstones == 50
    check(again, model, queries, 10, 12)


def test_default_ids_continue_after_removals():
    index, model, queries = build(n=1000)
    index.remove(np.arange(990, 1000))  # the largest ids: new defaults still come after them
    model.remove(np.arange(990, 1000))
    codes = uniform_codes(np.random.default_rng(8), 5, 64)
    index.add(codes)
    model.add(codes, np.arange(1000, 1005))
    check(index, model, queries, 10, 12)


def test_searches_during_removals_and_compaction():
    """Searches from other threads while one thread removes (tombstones, then rebuilds aside):
    a kept code is always found at distance 0, and no search returns an id removed before it began."""
    nbits, n = 64, 30000
    rng = np.random.default_rng(9)
    db = clustered_codes(rng, n, nbits, centres=6, p=0.08)
    index = ni.MultiIndexHashing(nbits)
    index.set_fallback("never")
    index.add(db)
    kept = np.arange(8)  # never removed; queries equal to these codes
    gone_before = [0]  # how many of `order` were removed, published after each call
    order = rng.permutation(np.arange(8, n))
    stop, errors = threading.Event(), []

    def searcher():
        try:
            while not stop.is_set():
                removed = order[: gone_before[0]]
                res = index.search(db[kept], 5, num_threads=1)
                assert (res.distances[:, 0] == 0).all()
                assert not np.isin(res.ids, removed).any()
        except Exception as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(2)]
    for t in threads:
        t.start()
    rebuilt = False
    for lo in range(0, 12000, 400):  # 12000 of 30000: several compactions
        before = index.tombstones
        index.remove(order[lo:lo + 400])
        gone_before[0] = lo + 400
        rebuilt |= index.tombstones < before
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert rebuilt
    live = np.setdiff1d(np.arange(n), order[:12000])
    assert_knn_matches(index.search(db[:20], 10), db[live], live, db[:20], 10)


def test_remove_benchmark_smoke(tmp_path, monkeypatch):
    """bench/bench_mih_remove.py end to end on a small index (its exactness checks included)."""
    import json
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_mih_remove

    out = tmp_path / "remove.json"
    bench_mih_remove.main(["--n", "20k", "--removes", "30", "--idle", "0.05", "--compaction", "--batch", "500",
                           "--json", str(out)])
    figures = json.loads(out.read_text())
    assert figures["remove_one_by_one"]["count"] == 30 and figures["compaction"]["ids"] + 30 > 20000 // 8  # past 1/8: rebuilt
