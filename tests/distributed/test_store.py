"""A shard on disk without Ray: adds and removes survive a reopen, a compaction and ``kill -9``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nash_index as ni
from conftest import oracle_knn
from nash_index.distributed.layout import ShardState, index_path, journal_path, shard_directory, write_shard
from nash_index.distributed.store import ShardStore


def _codes(rng, n, code_size=8):
    return rng.integers(0, 256, size=(n, code_size), dtype=np.uint8)


def _contents(store):
    ids = store.index.ids()
    order = np.argsort(ids)
    return ids[order], store.index.codes()[order]


@pytest.mark.parametrize("kind", ["flat", "mih"])
def test_changes_survive_reopen_and_compaction(tmp_path, kind):
    rng = np.random.default_rng(0)
    ShardStore.create(tmp_path, 0, 64, kind)
    store = ShardStore(tmp_path, 0)
    codes = _codes(rng, 500)
    store.add(codes[:300], np.arange(300, dtype=np.int64) * 7, b"a" * 16)
    store.add(codes[300:], np.arange(300, 500, dtype=np.int64) * 7, b"b" * 16)
    assert store.remove(np.array([0, 7, 14, 5], dtype=np.int64), b"c" * 16) == 3
    before = _contents(store)
    store.close()
    for step in ("reopen", "compact", "reopen"):
        store = ShardStore(tmp_path, 0)
        np.testing.assert_array_equal(_contents(store)[0], before[0])
        np.testing.assert_array_equal(_contents(store)[1], before[1])
        assert store.max_id == 499 * 7
        if step == "compact":
            store.compact()
            assert journal_path(shard_directory(tmp_path, 0), 1).stat().st_size == 0
            assert not index_path(shard_directory(tmp_path, 0), 0).exists()
        store.close()
    assert type(ShardStore(tmp_path, 0).index).__name__ == {"flat": "FlatIndex", "mih": "MultiIndexHashing"}[kind]


def test_operation_ids_make_retries_idempotent(tmp_path):
    rng = np.random.default_rng(1)
    ShardStore.create(tmp_path, 0, 64)
    store = ShardStore(tmp_path, 0)
    codes, ids = _codes(rng, 10), np.arange(10, dtype=np.int64)
    assert store.add(codes, ids, b"1" * 16) == 10
    assert store.add(codes, ids, b"1" * 16) == 10  # a retried call: acknowledged, not applied twice
    with pytest.raises(ValueError, match="unique"):
        store.add(codes, ids, b"2" * 16)  # a new call with the same ids: refused, as by a local index
    store.compact()
    store.close()
    store = ShardStore(tmp_path, 0)  # remembered across the compaction
    assert store.applied(b"1" * 16) and store.index.ntotal == 10
    assert store.remove(ids[:2], b"3" * 16) == 2
    assert store.remove(ids[:5], b"3" * 16) == 0
    assert store.index.ntotal == 8


def test_failed_journal_write_undoes_the_add(tmp_path, monkeypatch):
    ShardStore.create(tmp_path, 0, 64)
    store = ShardStore(tmp_path, 0)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store._journal, "append", disk_full)
    with pytest.raises(OSError):
        store.add(_codes(np.random.default_rng(2), 4), np.arange(4, dtype=np.int64), b"x" * 16)
    assert store.index.ntotal == 0 and not store.applied(b"x" * 16)


def test_crash_during_compaction_keeps_a_complete_generation(tmp_path):
    """The next generation was written but state.json not yet switched: the old generation (index
    plus journal) is opened, with every change; a later compaction overwrites the leftovers."""
    rng = np.random.default_rng(3)
    ShardStore.create(tmp_path, 0, 64)
    store = ShardStore(tmp_path, 0)
    store.add(_codes(rng, 50), np.arange(50, dtype=np.int64), b"a" * 16)
    store.remove(np.arange(5, dtype=np.int64), b"b" * 16)
    before = _contents(store)
    directory = shard_directory(tmp_path, 0)
    state = ShardState.read(directory)
    write_shard(tmp_path, 0, ni.FlatIndex(64), 1)  # a wrong generation 1, never made current
    state.write(directory)
    store.close()
    store = ShardStore(tmp_path, 0)
    assert store.info()["generation"] == 0
    for got, want in zip(_contents(store), before):
        np.testing.assert_array_equal(got, want)
    store.compact()
    store.close()
    store = ShardStore(tmp_path, 0)
    assert store.info()["generation"] == 1
    for got, want in zip(_contents(store), before):
        np.testing.assert_array_equal(got, want)


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from nash_index.distributed.store import ShardStore
    root = sys.argv[1]
    store = ShardStore(root, 0)
    rng = np.random.default_rng(5)
    start = 0
    while True:
        n = int(rng.integers(1, 200))
        codes = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
        store.add(codes, np.arange(start, start + n, dtype=np.int64), start.to_bytes(16, "little"))
        start += n
        print(start, flush=True)  # acknowledged: every id below start is on disk
""")


def test_kill_9_loses_nothing_acknowledged(tmp_path):
    ShardStore.create(tmp_path, 0, 128, "mih")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged > 3000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    tail = proc.stdout.read().split()
    acknowledged = max([acknowledged] + [int(t) for t in tail])
    store = ShardStore(tmp_path, 0)
    ids = np.sort(store.index.ids())
    assert ids.size >= acknowledged
    np.testing.assert_array_equal(ids, np.arange(ids.size))  # a prefix: nothing missing, nothing torn
    queries = store.index.codes()[:5]
    got = store.search(queries, 10)
    want = oracle_knn(store.index.codes(), store.index.ids(), queries, 10)
    np.testing.assert_array_equal(got[1], want[1])


def test_undo_add_restores_the_largest_id(tmp_path):
    rng = np.random.default_rng(6)
    ShardStore.create(tmp_path, 0, 64)
    store = ShardStore(tmp_path, 0)
    store.add(_codes(rng, 10), np.arange(10, dtype=np.int64), b"a" * 16)
    late = np.arange(100, 105, dtype=np.int64)
    store.add(_codes(rng, 5), late, b"b" * 16)
    assert store.max_id == 104
    assert store.undo_add(late, b"b" * 16, b"c" * 16) == 5
    assert store.undo_add(late, b"b" * 16, b"c" * 16) == 0  # retried: once only
    assert (store.index.ntotal, store.max_id) == (10, 9)
    store.close()
    store = ShardStore(tmp_path, 0)  # the journal replays the add and its undo
    assert (store.index.ntotal, store.max_id) == (10, 9)


@pytest.mark.parametrize("kind", ["flat", "mih"])
def test_reset_is_durable_and_restarts_default_ids(tmp_path, kind):
    """As FlatIndex.reset: nothing left, next default id 0; on disk an empty next generation."""
    rng = np.random.default_rng(7)
    ShardStore.create(tmp_path, 0, 64, kind)
    store = ShardStore(tmp_path, 0)
    store.add(_codes(rng, 40), np.arange(40, dtype=np.int64) * 3, b"a" * 16)
    assert store.reset(b"r" * 16) == 40
    assert store.reset(b"r" * 16) == 0  # a retried call: applied once
    assert (store.index.ntotal, store.max_id, store.info()["generation"]) == (0, -1, 1)
    assert not index_path(shard_directory(tmp_path, 0), 0).exists()  # the old codes' file is gone
    store.add(_codes(rng, 5), np.arange(5, dtype=np.int64), b"b" * 16)  # journalled after the reset
    store.close()
    store = ShardStore(tmp_path, 0)
    np.testing.assert_array_equal(np.sort(store.index.ids()), np.arange(5))
    assert store.max_id == 4 and store.applied(b"r" * 16)
    assert type(store.index).__name__ == {"flat": "FlatIndex", "mih": "MultiIndexHashing"}[kind]


def test_failed_reset_leaves_the_shard_as_on_disk(tmp_path, monkeypatch):
    from nash_index.distributed import store as store_module

    rng = np.random.default_rng(8)
    ShardStore.create(tmp_path, 0, 64)
    store = ShardStore(tmp_path, 0)
    store.add(_codes(rng, 20), np.arange(20, dtype=np.int64), b"a" * 16)
    before = _contents(store)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "write_shard", disk_full)
    with pytest.raises(OSError):
        store.reset(b"r" * 16)
    assert store.max_id == 19 and not store.applied(b"r" * 16)
    for got, want in zip(_contents(store), before):
        np.testing.assert_array_equal(got, want)
    store.add(_codes(rng, 2), np.array([50, 51], dtype=np.int64), b"b" * 16)  # the journal still works
    store.close()
    assert ShardStore(tmp_path, 0).index.ntotal == 22


def test_reconstruct_codes_ids_and_info_from_files(tmp_path):
    rng = np.random.default_rng(9)
    ShardStore.create(tmp_path, 0, 64)
    store = ShardStore(tmp_path, 0)
    codes, ids = _codes(rng, 30), rng.permutation(1000)[:30].astype(np.int64)
    store.add(codes, ids, b"a" * 16)
    np.testing.assert_array_equal(store.reconstruct(int(ids[4])), codes[4])
    assert store.reconstruct(int(ids.max()) + 1) is None
    order = np.argsort(store.ids())
    np.testing.assert_array_equal(store.ids()[order], np.sort(ids))
    np.testing.assert_array_equal(store.codes()[order], codes[np.argsort(ids)])
    on_disk = ShardStore.read_info(tmp_path, 0)  # the files as written: the journal is not replayed
    assert store.info()["journal_bytes"] > 0 and on_disk == {**store.info(), "ntotal": 0, "max_id": -1}
    store.compact()
    assert ShardStore.read_info(tmp_path, 0) == store.info() == {
        "shard": 0, "kind": "flat", "ntotal": 30, "nbits": 64, "generation": 1,
        "max_id": int(ids.max()), "journal_bytes": 0}
