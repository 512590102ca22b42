"""nash_index.atomic_io: whole-or-nothing replacement, leftovers of killed writers cleaned up."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nash_index.atomic_io import atomic_file, remove_stale_temporaries, target_lock, temporary_directory


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftovers(directory: Path, name: str) -> list:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f".{name}.") and ".tmp-" in p.name)


def test_atomic_file_replaces_whole(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with atomic_file(target) as fh:
        fh.write(b"new contents")
        assert target.read_bytes() == b"old"  # nothing visible before the block ends
    assert target.read_bytes() == b"new contents"
    assert leftovers(tmp_path, "data.bin") == []


def test_atomic_file_failure_keeps_old_and_leaves_nothing(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_file(target) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path, "data.bin") == []


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    pid = dead_pid()
    stale_file = tmp_path / f".data.bin.{pid}.tmp-abc123"
    stale_dir = tmp_path / f".data.bin.{pid}.tmp-def456"
    live = tmp_path / f".data.bin.{os.getpid()}.tmp-ghi789"  # this process: maybe a save in flight
    other = tmp_path / f".other.bin.{pid}.tmp-abc123"  # another target's: not ours to judge
    stale_file.write_bytes(b"x" * 100)
    stale_dir.mkdir()
    (stale_dir / "inner").write_text("x")
    live.write_bytes(b"y")
    other.write_bytes(b"z")
    with atomic_file(tmp_path / "data.bin") as fh:
        fh.write(b"ok")
    assert not stale_file.exists() and not stale_dir.exists()
    assert live.exists() and other.exists()
    assert remove_stale_temporaries(tmp_path / "other.bin") == 1


def test_concurrent_writers_last_one_wins(tmp_path):
    target = tmp_path / "data.bin"
    payloads = [bytes([i]) * 50_000 for i in range(8)]
    errors = []

    def write(i):
        try:
            for _ in range(20):
                with atomic_file(target) as fh:
                    fh.write(payloads[i])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert target.read_bytes() in payloads
    assert leftovers(tmp_path, "data.bin") == []


def test_killed_writer_leaves_old_file_and_a_temporary_the_next_write_removes(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    code = (
        "import sys, time\n"
        "from nash_index.atomic_io import atomic_file\n"
        f"with atomic_file({str(target)!r}) as fh:\n"
        "    fh.write(b'partial'); fh.flush(); print('writing', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.stdout.readline().strip() == b"writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert target.read_bytes() == b"old"
    assert len(leftovers(tmp_path, "data.bin")) == 1
    with atomic_file(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path, "data.bin") == []


def test_temporary_directory_is_recognised_as_stale_once_its_writer_dies(tmp_path):
    final = tmp_path / "pipe"
    mine = temporary_directory(final)
    assert mine.parent == tmp_path and mine.name.startswith(f".pipe.{os.getpid()}.tmp-")
    assert remove_stale_temporaries(final) == 0  # alive: kept
    os.rename(mine, tmp_path / f".pipe.{dead_pid()}.tmp-xyz")
    assert remove_stale_temporaries(final) == 1


def test_target_lock_excludes_other_threads(tmp_path):
    final = tmp_path / "pipe"
    inside, overlaps = [0], []

    def hold():
        with target_lock(final):
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0.01)
            inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1] * 6


def test_atomic_file_name_is_the_temporary_path(tmp_path):
    target = tmp_path / "data.bin"
    with atomic_file(target) as fh:
        Path(fh.name).write_bytes(b"by name")  # as a child process would write it
        assert Path(fh.name).parent == tmp_path and Path(fh.name).name.startswith(".data.bin.")
    assert target.read_bytes() == b"by name"
