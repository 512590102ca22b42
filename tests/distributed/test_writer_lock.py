"""Issue #27 defect 1: one writer per sharded directory. A second writer (another process, or the
same one) is refused with an error naming the holder; the lock dies with its process (kill -9);
nothing acknowledged is lost; read-only opens are allowed beside the writer."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("ray")

from conftest import oracle_knn  # noqa: E402
from nash_index.distributed import ShardedIndex  # noqa: E402
from nash_index.distributed.lock import DirectoryLockedError, WriterLock  # noqa: E402

NBITS = 64
CPUS = 0.2  # several indexes (and a second driver) share the test cluster's two CPUs


def _codes(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, NBITS // 8), dtype=np.uint8)


def test_second_writer_in_this_process_is_refused_through_every_change(ray_local, tmp_path):
    first = ShardedIndex.create(tmp_path / "s", NBITS, 2, "flat", cpus_per_shard=CPUS)
    added = []
    try:
        for step, change in enumerate(("add", "compact", "remove", "add")):
            if change == "add":
                codes = _codes(step, 30)
                first.add(codes)
                added.append(codes)
            elif change == "compact":
                first.compact()
            else:
                assert first.remove(np.arange(5)) == 5
            with pytest.raises(DirectoryLockedError, match=f"pid {os.getpid()} on host {socket.gethostname()}"):
                ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS)
        with ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS, read_only=True) as reader:
            assert reader.ntotal == 55  # a reader beside the writer: what was acknowledged when it opened
            with pytest.raises(RuntimeError, match="read-only"):
                reader.add(_codes(9, 1))
    finally:
        first.close()
    with ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS) as second:  # closed: the lock is free
        codes = np.concatenate(added)[5:]
        assert second.ntotal == 55
        np.testing.assert_array_equal(np.sort(second.ids()), np.arange(5, 60))
        got = second.search(codes[:6], 8)
        want = oracle_knn(codes, np.arange(5, 60), codes[:6], 8)
        np.testing.assert_array_equal(got.distances, want[0])
        np.testing.assert_array_equal(got.ids, want[1])


_HOLDER = textwrap.dedent("""
    import sys, time
    import numpy as np, ray
    from nash_index.distributed import ShardedIndex
    address, path, cpus = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ray.init(address=address, log_to_driver=False, configure_logging=False, _node_ip_address="127.0.0.1")
    index = ShardedIndex.open(path, cpus_per_shard=cpus)
    for step in range(4):
        codes = np.random.default_rng(100 + step).integers(0, 256, size=(25, 8), dtype=np.uint8)
        index.add(codes)  # default ids: 0..99 over the four adds
        print("added", 25 * (step + 1), flush=True)
    print("holding", flush=True)
    time.sleep(600)
""")


def test_writer_in_another_process_is_refused_and_its_lock_dies_with_it(ray_local, tmp_path):
    ShardedIndex.create(tmp_path / "s", NBITS, 2, "flat", cpus_per_shard=CPUS).close()
    address = ray_local.get_runtime_context().gcs_address
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, address, str(tmp_path / "s"), str(CPUS)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip() == "holding":
                break
        assert lines[-1] == "holding", lines
        with pytest.raises(DirectoryLockedError, match=f"pid {proc.pid} on host {socket.gethostname()}, since 20"):
            ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with ShardedIndex.open(tmp_path / "s", cpus_per_shard=CPUS) as index:  # the lock died with the holder
        codes = np.concatenate([np.random.default_rng(100 + s).integers(0, 256, size=(25, 8), dtype=np.uint8)
                                for s in range(4)])
        assert index.ntotal == 100  # every acknowledged add
        order = np.argsort(index.ids())
        np.testing.assert_array_equal(index.ids()[order], np.arange(100))
        np.testing.assert_array_equal(index.codes()[order], codes)
        index.add(codes[:3])  # default ids go on after the holder's: no duplicate
        np.testing.assert_array_equal(np.sort(index.ids())[-3:], [100, 101, 102])


def test_the_lock_file_alone(tmp_path):
    """The flock: refused while held (a second description in the same process), free once released."""
    held = WriterLock(tmp_path)
    with pytest.raises(DirectoryLockedError) as refused:
        WriterLock(tmp_path)
    assert refused.value.holder["pid"] == os.getpid()
    held.release()
    WriterLock(tmp_path).release()
