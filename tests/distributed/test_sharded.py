"""ShardedIndex on a local Ray cluster: durable adds across killed actors, reopening and copies,
threads, the compiled fast path (its argument checks and BaseIndex methods: test_sharded_interface.py)."""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_same_as, clustered_codes

pytest.importorskip("ray", reason="nash_index[distributed] (Ray) is not installed")
from nash_index.distributed import ShardedIndex, ShardUnavailableError  # noqa: E402


def test_duplicate_id_across_calls_is_refused_and_undone(ray_local, tmp_path):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (200, 8), dtype=np.uint8)
    with ShardedIndex.create(tmp_path / "d", 64, 3) as index:
        index.add(codes[:100])
        with pytest.raises(ValueError, match="unique"):
            index.add(codes[100:], np.arange(99, 199))  # id 99 exists; the other 99 span all shards
        assert len(index) == 100
        index.add(codes[100:])  # default ids continue after the largest: 100..199
        flat = ni.FlatIndex(64)
        flat.add(codes)
        assert_same_as(index, flat, codes[:10])


def test_killed_actors_restart_and_lose_nothing(ray_local, tmp_path):
    ray = ray_local
    rng = np.random.default_rng(4)
    codes = clustered_codes(rng, 4000, 64, centres=8, p=0.06)
    flat = ni.FlatIndex(64)
    with ShardedIndex.create(tmp_path / "k", 64, 3, kind=["flat", "mih", "flat"]) as index:
        for step, chunk in enumerate(np.array_split(np.arange(4000), 4)):
            index.add(codes[chunk], chunk)
            flat.add(codes[chunk], chunk)
            if step == 2:
                index.remove(chunk[:30])
                flat.remove(chunk[:30])
            victim = index.actors[step % 3]
            old_pid = ray.get(victim.ping.remote())
            if step % 2:
                ray.kill(victim, no_restart=False)
            else:
                os.kill(old_pid, signal.SIGKILL)  # kill -9 of the actor's process
            assert_same_as(index, flat, codes[::97])  # waits for the restart: the journal replayed
            assert ray.get(victim.ping.remote()) != old_pid
        assert len(index) == len(flat)
        index.compact()
        ray.kill(index.actors[0], no_restart=False)
        assert_same_as(index, flat, codes[::53])


def test_search_in_flight_when_an_actor_dies(ray_local, tmp_path):
    ray = ray_local
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (60000, 8), dtype=np.uint8)
    queries = rng.integers(0, 256, (3000, 8), dtype=np.uint8)
    flat = ni.FlatIndex(64)
    flat.add(codes)
    with ShardedIndex.create(tmp_path / "f", 64, 2, kind="flat") as index:
        index.add(codes)
        killer = threading.Timer(0.05, lambda: ray.kill(index.actors[1], no_restart=False))
        killer.start()
        got = index.search(queries, 10)  # retried by Ray on the restarted actor
        killer.join()
        want = flat.search(queries, 10)
        np.testing.assert_array_equal(got.ids, want.ids)
        ray.kill(index.actors[0], no_restart=True)  # gone for good: a clear error, no partial answer
        time.sleep(0.5)
        with pytest.raises(ShardUnavailableError, match="shard 0"):
            index.search(queries[:50], 10)


def test_reopen_and_save_copy(ray_local, tmp_path):
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 256, (500, 16), dtype=np.uint8)
    flat = ni.FlatIndex(128)
    flat.add(codes)
    with ShardedIndex.create(tmp_path / "s", 128, 2, kind="mih") as index:
        index.add(codes)
        index.save(tmp_path / "copy")
        with pytest.raises(FileExistsError):
            index.save(tmp_path / "copy")
    for path in ("s", "copy"):
        with ShardedIndex.open(tmp_path / path) as index:
            assert_same_as(index, flat, codes[:10])
            assert {i["kind"] for i in index.info()} == {"mih"}
    with pytest.raises(FileExistsError):
        ShardedIndex.create(tmp_path / "s", 128, 2)
    with pytest.raises(FileNotFoundError, match="not a sharded index"):
        ShardedIndex.open(tmp_path)
    index.close()  # closing twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        index.search(codes[:1], 1)


def test_threads_follow_reserved_cpus(ray_local, tmp_path):
    with ShardedIndex.create(tmp_path / "t", 64, 4) as index:
        assert index.cpus_per_shard == pytest.approx(0.5)
        assert [i["num_threads"] for i in index.info()] == [1, 1, 1, 1]
    with ShardedIndex.create(tmp_path / "t2", 64, 1) as index:
        assert [i["num_threads"] for i in index.info()] == [2]


def test_compiled_fast_path_is_exact_and_survives_a_kill(ray_local, tmp_path):
    ray = ray_local
    rng = np.random.default_rng(8)
    codes = clustered_codes(rng, 2000, 64, centres=6, p=0.05)
    flat = ni.FlatIndex(64)
    flat.add(codes)
    with ShardedIndex.create(tmp_path / "c", 64, 2, kind=["mih", "flat"], fast_search=True) as index:
        index.add(codes)
        assert_same_as(index, flat, codes[:7])  # small batches: the compiled graph
        assert_same_as(index, flat, codes[:400], ks=(30,))  # beyond its sizes: ordinary calls
        ray.kill(index.actors[1], no_restart=False)
        assert_same_as(index, flat, codes[7:12])  # the graph breaks: ordinary calls, retried
        assert_same_as(index, flat, codes[12:15])  # compiled again
        with pytest.raises(ValueError, match="k must be"):
            index.search(codes[:2], 0)


def test_arrays_from_the_object_store_are_accepted(ray_local, tmp_path):
    """ray.get returns read-only, zero-copy arrays: every index takes them as they are."""
    ray = ray_local
    rng = np.random.default_rng(9)
    codes = ray.get(ray.put(rng.integers(0, 256, (300, 8), dtype=np.uint8)))
    assert not codes.flags.writeable
    flat = ni.FlatIndex(64)
    flat.add(codes)
    with ShardedIndex.create(tmp_path / "o", 64, 2) as index:
        index.add(codes, ray.get(ray.put(np.arange(300))))
        assert_same_as(index, flat, codes[:5])


def test_searches_from_threads_while_another_thread_adds(ray_local, tmp_path):
    rng = np.random.default_rng(10)
    codes = rng.integers(0, 256, (3000, 8), dtype=np.uint8)
    with ShardedIndex.create(tmp_path / "th", 64, 2) as index:
        index.add(codes[:1000])
        errors = []

        def searcher():
            try:
                for _ in range(15):
                    got = index.search(codes[:3], 5)
                    assert (got.distances[:, 0] == 0).all()  # each query finds itself, whatever was added
            except Exception as exc:  # reported below: a thread's assertion would be lost
                errors.append(exc)

        threads = [threading.Thread(target=searcher) for _ in range(3)]
        adders = [threading.Thread(target=index.add, args=(codes[s:s + 500], np.arange(s, s + 500)))
                  for s in range(1000, 3000, 500)]
        for t in threads + adders:
            t.start()
        for t in threads + adders:
            t.join()
        assert not errors
        flat = ni.FlatIndex(64)
        flat.add(codes)
        assert_same_as(index, flat, codes[::150])
        assert len(index) == 3000


def test_idle_compiled_graph_is_torn_down(ray_local, tmp_path, monkeypatch):
    from nash_index.distributed import fanout

    monkeypatch.setattr(fanout, "FAST_IDLE_S", 0.3)
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 256, (500, 8), dtype=np.uint8)
    flat = ni.FlatIndex(64)
    flat.add(codes)
    with ShardedIndex.create(tmp_path / "idle", 64, 2, fast_search=True) as index:
        index.add(codes)
        assert_same_as(index, flat, codes[:3], ks=(5,))
        assert index._fanout._graph is not None  # compiled by the small query
        deadline = time.monotonic() + 10
        while index._fanout._graph is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert index._fanout._graph is None  # idle: torn down, the actors stop polling
        assert_same_as(index, flat, codes[3:6], ks=(5,))  # compiled again on demand
