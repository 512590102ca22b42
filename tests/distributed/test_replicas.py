"""ShardedIndex(replicas=R): reads spread over each shard's replicas answer exactly as one
FlatIndex (numpy oracle), with a replica killed mid-query; changes reach every replica, the
replacement of a dead one included; a damaged journal is the shard's own clear error (#27 defect 11)."""
from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from conftest import oracle_knn  # noqa: E402
from nash_index.distributed import ShardedIndex  # noqa: E402
from nash_index.distributed.layout import journal_path, shard_directory  # noqa: E402

NBITS = 64
CPUS = 0.15


def _assert_exact(index, codes, ids, queries, k=10):
    got = index.search(queries, k)
    want = oracle_knn(codes, ids, queries, k)
    np.testing.assert_array_equal(got.distances, want[0])
    np.testing.assert_array_equal(got.ids, want[1])


def _same_on_every_replica(index):
    for group in index.replica_actors():
        contents = [np.sort(ray.get(actor.ids.remote())) for actor in group]
        for other in contents[1:]:
            np.testing.assert_array_equal(other, contents[0])


def test_replicas_are_exact_with_one_killed_mid_query(ray_local, tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(1500, NBITS // 8), dtype=np.uint8)
    codes[700:] = codes[:800] ^ (rng.random((800, NBITS // 8)) < 0.02).astype(np.uint8)  # near ties
    ids = rng.permutation(1500).astype(np.int64) * 3 + 1
    index = ShardedIndex.create(tmp_path / "s", NBITS, 2, "flat", cpus_per_shard=CPUS, replicas=3, hedge_s=3.0)
    try:
        assert index.replicas == 3 and len(index.replica_actors()[0]) == 3
        index.add(codes[:1000], ids[:1000])
        _same_on_every_replica(index)
        queries = codes[rng.choice(1000, 40, replace=False)]
        failures, answers = [], []

        def query_loop():
            try:
                for _ in range(24):
                    answers.append(index.search(queries, 10))
            except Exception as exc:  # recorded: the test fails below with it
                failures.append(exc)

        worker = threading.Thread(target=query_loop)
        worker.start()
        while len(answers) < 4 and worker.is_alive():
            threading.Event().wait(0.02)
        shard0, shard1 = index.replica_actors()
        ray.kill(shard0[1], no_restart=True)  # gone for good: replaced by a new actor
        os.kill(ray.get(shard1[2].ping.remote()), signal.SIGKILL)  # a crash: Ray restarts it, we replace it
        worker.join()
        assert not failures, failures
        want = oracle_knn(codes[:1000], ids[:1000], queries, 10)
        for got in answers:  # every answer, those in flight at the kills included, is exact
            np.testing.assert_array_equal(got.distances, want[0])
            np.testing.assert_array_equal(got.ids, want[1])
        index.add(codes[1000:], ids[1000:])  # reaches every replica, the replacements included
        assert index.remove(ids[:100]) == 100
        for _ in range(6):  # round-robin: every replica of each shard answers at least once
            _assert_exact(index, codes[100:], ids[100:], queries)
        _same_on_every_replica(index)
        np.testing.assert_array_equal(np.sort(index.ids()), np.sort(ids[100:]))
        now0, now1 = index.replica_actors()
        assert now0[1]._actor_id != shard0[1]._actor_id  # the dead replica was replaced by a new actor
        assert [a._actor_id for a in now0[::2] + now1[:2]] == [a._actor_id for a in shard0[::2] + shard1[:2]]
    finally:
        index.close()
    with ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS, replicas=2) as reopened:  # all on disk
        _assert_exact(reopened, codes[100:], ids[100:], queries)


def test_a_damaged_journal_is_the_shards_own_error(ray_local, tmp_path):
    with ShardedIndex.create(tmp_path / "s", NBITS, 2, "flat", cpus_per_shard=CPUS) as index:
        for step in range(3):
            index.add(np.full((4, NBITS // 8), step, dtype=np.uint8), np.arange(4) * 2 + 8 * step)
    damaged = next(p for p in (journal_path(shard_directory(tmp_path / "s", s), 0) for s in range(2))
                   if p.stat().st_size > 200)
    data = bytearray(damaged.read_bytes())
    data[40] ^= 0xFF  # inside the first record: valid records follow
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged at byte") as raised:
        ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS)
    assert not isinstance(raised.value, ray.exceptions.RayError) and str(damaged) in str(raised.value)
    assert "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="damaged at byte"):  # the lock was released: the same error again
        ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS)
