"""One writer per sharded index directory: an advisory ``flock`` on ``DIR/writer.lock``.

The lock belongs to the open file description of the process that opened the directory for
writing, so it is released when that process exits for any reason (``kill -9`` included) and no
stale lock is ever left to clean up. A second writer, in another process or in the same one (a
second open of the file is a second description), is refused at once with
:class:`DirectoryLockedError` naming the holder, which the holder writes into the file (pid, host,
time). Readers take no lock. On a cluster the directory is on a shared filesystem: ``flock`` on
NFS v4 and most cluster filesystems is honoured across nodes; where it is not, the lock only
guards one machine.
"""
from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

__all__ = ["LOCK_FILE", "DirectoryLockedError", "WriterLock"]

LOCK_FILE = "writer.lock"


class DirectoryLockedError(RuntimeError):
    """Another :class:`ShardedIndex` holds the directory open for writing."""

    def __init__(self, path: Path, holder: Dict[str, Any]) -> None:
        who = (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, since {holder.get('since', '?')}"
               if holder else "a process that has not yet recorded itself")
        super().__init__(f"'{path}' is open for writing by another ShardedIndex ({who}): one writer per "
                         "directory; close that one first, or open this one with read_only=True")
        self.path, self.holder = path, holder


class WriterLock:
    """Holds ``DIR/writer.lock`` until :meth:`release` (or the process ends). ``wait_s``: how long
    to wait for the holder to go (a shard actor waits for the actor of a driver that just died)."""

    def __init__(self, root: Union[str, Path], wait_s: float = 0.0) -> None:
        self.path = Path(root) / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise DirectoryLockedError(Path(root), read_holder(root)) from None
                time.sleep(0.05)
        self._fd: Optional[int] = fd
        since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)

    def release(self) -> None:
        """Idempotent. The file stays (removing it would race with the next writer's open)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the description releases the flock

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.release()


def read_holder(root: Union[str, Path]) -> Dict[str, Any]:
    """What the current holder recorded ({} if nothing readable: it is still writing it)."""
    try:
        value = json.loads((Path(root) / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
