"""Atomic replacement of files and directories, shared by every Python writer of the package.

A writer fills a fresh temporary next to its target, flushes it to disk and renames it over the
target, then syncs the directory, so a reader sees the old or the new contents, never a mix, and a
crash right after the call returns loses nothing. Temporaries are named
``.<name>.<pid>.tmp-XXXXXXXX`` (the C++ index files use the same scheme): a temporary whose pid is
no longer alive was left by a killed writer, and the next write to the same target removes it.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Union

__all__ = ["atomic_file", "fsync_directory", "remove_stale_temporaries", "target_lock", "temporary_directory"]

PathLike = Union[str, "os.PathLike[str]"]
_MAX_STEM = 200  # keeps the temporary's name under NAME_MAX (255)


def _prefix(final: Path) -> str:
    return f".{final.name[:_MAX_STEM]}."


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno != errno.ESRCH  # EPERM: alive, owned by someone else
    return True


def remove_stale_temporaries(final: PathLike) -> int:
    """Removes the temporaries of ``final`` left by writers that died; returns how many."""
    final = Path(final)
    pattern = re.compile(re.escape(_prefix(final)) + r"(\d{1,10})\.tmp-[A-Za-z0-9_]+$")
    removed = 0
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return 0  # creating the temporary reports the real problem
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
    return removed


def fsync_directory(directory: PathLike) -> None:
    """Makes renames inside ``directory`` durable (a no-op where directories cannot be synced)."""
    fd = os.open(os.fspath(directory), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _temporary_prefix(final: Path) -> str:
    return f"{_prefix(final)}{os.getpid()}.tmp-"


@contextlib.contextmanager
def atomic_file(path: PathLike) -> Iterator[BinaryIO]:
    """Yields a binary file that replaces ``path`` when the block ends without an exception.

    ``fh.name`` is the temporary's path, for writers that need a file name (a child process).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(final), dir=final.parent)
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:  # by name: ``fh.name`` is the temporary's path
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(final.parent)


def temporary_directory(final: PathLike) -> Path:
    """A fresh directory next to ``final``, named so that a dead writer's one is recognised."""
    final = Path(final)
    remove_stale_temporaries(final)
    return Path(tempfile.mkdtemp(prefix=_temporary_prefix(final), dir=final.parent))


@contextlib.contextmanager
def target_lock(final: PathLike) -> Iterator[None]:
    """Serialises writers of one target across threads and processes (an advisory ``flock``)."""
    final = Path(final)
    lock_path = final.parent / f"{_prefix(final)}lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # threads each open their own descriptor: flock excludes them too
        yield
    finally:
        os.close(fd)
