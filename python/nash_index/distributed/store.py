"""One shard on disk and in memory: its index file, mapped, plus the journal replayed over it.

:class:`ShardStore` knows nothing of Ray; the shard actor (:mod:`.actor`) is a thin wrapper around
it, so everything about durability is tested without a cluster.

An add is applied to the in-memory index first (which checks it: ids unique and new), then
journalled and ``fsync``-ed, and only then acknowledged; if the journal write fails the add is
undone. Every change carries an operation id: a change whose id was already applied (a call Ray
retried after the actor restarted, having written it before dying) is acknowledged again without
being applied twice.

A store opened with ``writable=False`` (a read replica, or a read-only open) never writes: it
replays the journal without cutting a torn tail (the writer may be appending to it right now) and
applies the changes the writer forwards to it in memory only, deduplicated by operation id as well.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..index import BaseIndex, load, make_index, registered_kinds
from ..index.validation import check_choice
from .journal import ADD, REMOVE, UNDO, Journal, Replay
from .layout import ShardState, index_path, journal_path, shard_directory, write_shard
from .lock import WriterLock

__all__ = ["SHARD_KINDS", "ShardStore"]

SHARD_KINDS = registered_kinds()  # every kind of the core's registry ("auto" is resolved before)
_UNDO_WINDOW = 64  # recent adds whose previous largest id is kept, for undo_add
_OPEN_TRIES = 5  # a reader can meet a compaction that removes the generation it just chose
# A writer waits this long for the shard's previous writer to exit (the actor of a driver that was
# killed lives on until Ray notices; one of the same driver that Ray restarts has already exited).
WRITER_WAIT_S = 60.0


class ShardStore:
    """Shard ``shard`` of the sharded index in ``root``, opened (``mmap``: map the index file)."""

    def __init__(self, root: Any, shard: int, *, mmap: bool = True, populate: bool = False,
                 writable: bool = True) -> None:
        self.root = Path(root)
        self.shard = shard
        self.directory = shard_directory(root, shard)
        self.writable = writable
        self._lock = threading.RLock()  # a search may run on another thread than the changes
        self._mmap, self._populate = mmap, populate
        self._journal: Optional[Journal] = None
        # Belt and braces under the directory's lock: never two processes appending to one journal.
        self._writer_lock = WriterLock(self.directory, WRITER_WAIT_S) if writable else None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        for attempt in range(_OPEN_TRIES):
            try:
                return self._open_current()
            except FileNotFoundError:  # a reader raced a compaction: read state.json again
                if self.writable or attempt == _OPEN_TRIES - 1:
                    raise

    def _open_current(self) -> None:
        """Maps the current generation's index file and replays its journal over it."""
        state = ShardState.read(self.directory)
        self._generation = state.generation
        self._max_id = state.max_id
        self._recent = list(state.recent_ops)
        self._applied = set(self._recent)
        self._max_before: Dict[str, int] = {}
        self.index: BaseIndex = load(index_path(self.directory, state.generation), mmap=self._mmap,
                                     populate=self._populate)
        replay = Replay(journal_path(self.directory, self._generation), self.index.code_size, truncate=self.writable)
        for record in replay:
            self._apply(record.op, record.op_id, record.ids, record.codes)
        if not self.writable:
            return
        if replay.version == 1 and replay.records:  # an old journal: fold it in, go on in the current format
            self.compact()
        else:
            self._journal = Journal(journal_path(self.directory, self._generation), self.index.code_size, replay)

    @staticmethod
    def create(root: Any, shard: int, nbits: int, kind: str = "flat", **index_options: Any) -> None:
        """Writes an empty shard of ``kind`` (one of :data:`SHARD_KINDS`: ``"flat"``, ``"mih"``, ...)."""
        kind = check_choice(kind, SHARD_KINDS, "kind")
        write_shard(root, shard, make_index(nbits, kind=kind, **index_options))

    def _journal_append(self, op: int, op_id: bytes, ids: np.ndarray, codes: Optional[np.ndarray] = None) -> None:
        if self.writable:  # a replica's changes are on disk already: the writer journalled them
            self._journal.append(op, op_id, ids, codes)

    def _check_writable(self, what: str) -> None:
        if not self.writable:
            raise RuntimeError(f"shard {self.shard} is open read-only: it cannot {what}")

    def _apply(self, op: int, op_id: bytes, ids: np.ndarray, codes: Optional[np.ndarray]) -> int:
        if op == ADD:
            self.index.add(codes, ids)
            self._raise_max_id(op_id, ids)
            count = int(ids.size)
        elif op == UNDO:
            count = self.index.remove(ids[1:])
            self._max_id = int(ids[0])
        else:
            count = self.index.remove(ids)
        self._remember(op_id)
        return count

    def _raise_max_id(self, op_id: bytes, ids: np.ndarray) -> None:
        self._max_before[op_id.hex()] = self._max_id
        while len(self._max_before) > _UNDO_WINDOW:
            del self._max_before[next(iter(self._max_before))]
        if ids.size:
            self._max_id = max(self._max_id, int(ids.max()))

    def _remember(self, op_id: bytes) -> None:
        key = op_id.hex()
        self._recent.append(key)
        self._applied.add(key)

    def applied(self, op_id: bytes) -> bool:
        return op_id.hex() in self._applied

    # -- changes ---------------------------------------------------------------------------------
    def add(self, codes: np.ndarray, ids: np.ndarray, op_id: bytes) -> int:
        """Adds codes with these ids (checked by the index); returns once they are on disk."""
        with self._lock:
            if self.applied(op_id):
                return int(ids.size)
            self.index.add(codes, ids)
            try:
                self._journal_append(ADD, op_id, ids, codes)
            except BaseException:
                self.index.remove(ids)
                raise
            self._raise_max_id(op_id, ids)
            self._remember(op_id)
            return int(ids.size)

    def remove(self, ids: np.ndarray, op_id: bytes) -> int:
        """Removes these ids; returns the count removed, once the removal is on disk."""
        with self._lock:
            if self.applied(op_id):
                return 0
            self._journal_append(REMOVE, op_id, ids)
            return self._apply(REMOVE, op_id, ids, None)

    def undo_add(self, ids: np.ndarray, add_op_id: bytes, op_id: bytes) -> int:
        """Removes the codes of add ``add_op_id`` and restores the largest id from before it (as if
        the add had never happened: default ids then continue where they would have)."""
        with self._lock:
            if self.applied(op_id):
                return 0
            restored = self._max_before.get(add_op_id.hex(), self._max_id)
            payload = np.concatenate([np.array([restored], dtype=np.int64), ids.astype(np.int64)])
            self._journal_append(UNDO, op_id, payload)
            return self._apply(UNDO, op_id, payload, None)

    def reset(self, op_id: bytes) -> int:
        """Removes every code and forgets the largest id (default ids start at 0 again, as after a
        local index's reset); returns the count removed, once the empty shard is on disk.

        Durable without a journal record: the empty index is written as the next generation, made
        current as a compaction is (a crash before the switch leaves the old generation, whole).
        """
        with self._lock:
            if self.applied(op_id):
                return 0
            count = self.index.ntotal
            self.index.reset()
            self._max_id = -1
            self._max_before.clear()
            self._remember(op_id)
            if not self.writable:
                return count
            try:
                self.compact()
            except BaseException:  # not acknowledged: back to what the disk holds
                self._close_journal()
                self._open()
                raise
            return count

    def compact(self) -> None:
        """Folds the journal into a new index file (the next generation) and starts an empty journal."""
        self._check_writable("compact")
        with self._lock:
            old = self._generation
            write_shard(self.root, self.shard, self.index, old + 1, self._recent, self._max_id)
            self._close_journal()
            self._generation = old + 1
            self._journal = Journal(journal_path(self.directory, self._generation), self.index.code_size)
            for path in (index_path(self.directory, old), journal_path(self.directory, old)):
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def save_copy(self, root: Any) -> None:
        """Writes this shard, journal folded in, as generation 0 of shard ``self.shard`` under ``root``."""
        with self._lock:
            write_shard(root, self.shard, self.index, 0, self._recent, self._max_id)

    # -- queries ---------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, num_threads: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        return tuple(self.index.search(queries, k, num_threads=num_threads))

    def range_search(self, queries: np.ndarray, radius: int,
                     num_threads: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(self.index.range_search(queries, radius, num_threads=num_threads))

    def reconstruct(self, id: int) -> Optional[np.ndarray]:
        """The stored code of ``id`` (a checked int64 >= 0), None when this shard does not hold it."""
        try:
            return self.index.reconstruct(id)
        except KeyError:
            return None

    def codes(self) -> np.ndarray:
        """The stored codes in the index's storage order (a copy)."""
        with self._lock:
            return self.index.codes()

    def ids(self) -> np.ndarray:
        """The ids of :meth:`codes`, in the same order."""
        with self._lock:
            return self.index.ids()

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def max_id(self) -> int:
        return self._max_id

    def info(self) -> Dict[str, Any]:
        """The shard's number, index kind, size, nbits, generation, largest id and journal size."""
        return _facts(self.shard, self.directory, self._generation, self._max_id, self.index)

    @staticmethod
    def read_info(root: Any, shard: int) -> Dict[str, Any]:
        """:meth:`info` read from the shard's files, without replaying its journal: nothing is
        written, so it is safe while an actor serves the shard; ``ntotal`` and ``max_id`` are the
        index file's (exact while ``journal_bytes`` is 0)."""
        directory = shard_directory(root, shard)
        state = ShardState.read(directory)
        index = load(index_path(directory, state.generation), mmap=True, verify=False)
        return _facts(shard, directory, state.generation, state.max_id, index)

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def close(self) -> None:
        """Closes the journal and lets another writer open the shard."""
        self._close_journal()
        if self._writer_lock is not None:
            self._writer_lock.release()
            self._writer_lock = None


def _facts(shard: int, directory: Path, generation: int, max_id: int, index: BaseIndex) -> Dict[str, Any]:
    journal = journal_path(directory, generation)
    return {"shard": shard, "kind": index.kind, "ntotal": index.ntotal, "nbits": index.nbits,
            "generation": generation, "max_id": max_id,
            "journal_bytes": journal.stat().st_size if journal.exists() else 0}
