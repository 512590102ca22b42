"""An append-only journal of a shard's adds and removes: what makes an acknowledged change durable.

Each record is written with one ``write`` and ``fsync``-ed before the change is acknowledged, so a
``kill -9`` (or a power cut) can only tear the record being written, at the end of the file.
Replaying drops such a torn tail; damage followed by valid records (bit rot, an edited file) is
reported instead of being skipped, since records after it were acknowledged.

Why a torn tail is always recognised (format 2): the file starts with a random 16-byte key, and
every record carries a keyed BLAKE2b MAC of its header and of its payload, plus its sequence
number. Codes are user data, so the payload of a torn add may hold bytes that look like a record;
without the key (which never leaves the file) they cannot carry a valid MAC, so after the first
invalid record only a record that the shard really wrote can count as "valid records after
damage". Format 1 journals (CRC-only records, no file header) are still replayed; a writer
compacts them away on open (:class:`~.store.ShardStore`).

Format 2 layout (little-endian)::

    file header  "NJL2" | version u32 | key 16 bytes | crc32 of those 24 bytes u32      (28 bytes)
    record       "NJR2" | op u32 | op_id 16 | seq u64 | count u64 | payload MAC 8 bytes |
                 header MAC 8 bytes (of the 48 bytes before it) | payload
    payload      ``count`` int64 ids, then for an add ``count * code_size`` code bytes
"""
from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ..atomic_io import fsync_directory
from . import journal_v1

__all__ = ["ADD", "REMOVE", "UNDO", "Journal", "JournalRecord", "Replay"]

ADD = 1
REMOVE = 2
UNDO = 3  # undoes an add that failed on another shard: payload = [largest id before that add, *ids]
OPS = (ADD, REMOVE, UNDO)
VERSION = 2
_FILE_MAGIC = b"NJL2"
_FILE_HEADER = struct.Struct("<4sI16s")
FILE_HEADER_SIZE = _FILE_HEADER.size + 4
_MAGIC = b"NJR2"
_HEADER = struct.Struct("<4sI16sQQ8s")
_MAC = 8
HEADER_SIZE = _HEADER.size + _MAC


class JournalRecord(NamedTuple):
    op: int
    op_id: bytes
    ids: np.ndarray
    codes: Optional[np.ndarray]  # (count, code_size) uint8 for ADD, None otherwise


def _mac(key: bytes, data: Union[bytes, memoryview]) -> bytes:
    return hashlib.blake2b(data, digest_size=_MAC, key=key).digest()


def _encode(key: bytes, seq: int, op: int, op_id: bytes, ids: np.ndarray, codes: Optional[np.ndarray]) -> bytes:
    payload = ids.astype("<i8", copy=False).tobytes()
    if codes is not None:
        payload += np.ascontiguousarray(codes).tobytes()
    head = _HEADER.pack(_MAGIC, op, op_id, seq, int(ids.shape[0]), _mac(key, payload))
    return head + _mac(key, head) + payload


def _file_header(key: bytes) -> bytes:
    head = _FILE_HEADER.pack(_FILE_MAGIC, VERSION, key)
    return head + struct.pack("<I", zlib.crc32(head))


class Replay:
    """The records of one journal, in order (iterate once). ``truncate``: cut a torn tail off the
    file (the writer; a reader of a journal that a writer is appending to must not).

    After iteration: ``key`` and ``next_seq`` (what an appender continues with; None key: the file
    has no format-2 header yet), ``version`` (1 or 2) and ``records`` (how many were read).
    """

    def __init__(self, path: Union[str, Path], code_size: int, truncate: bool = True) -> None:
        self.path, self.code_size, self.truncate = Path(path), code_size, truncate
        self.key: Optional[bytes] = None
        self.next_seq = 0
        self.version = VERSION
        self.records = 0

    def __iter__(self) -> Iterator[JournalRecord]:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data[:4] == journal_v1.MAGIC:
            self.version = 1
            for record in journal_v1.replay(self.path, data, self.code_size, self.truncate):
                self.records += 1
                yield JournalRecord(*record)
            return
        if len(data) < FILE_HEADER_SIZE or not any(data[:FILE_HEADER_SIZE]):
            self._cut(0, len(data))  # empty, or the first write (header and first record) torn
            return
        self.key = _read_key(self.path, data)
        offset = FILE_HEADER_SIZE
        while offset < len(data):
            record, end = _parse(data, offset, self.code_size, self.key, self.next_seq)
            if record is None:
                _check_nothing_valid_after(self.path, data, offset, self.key)
                self._cut(offset, len(data))
                return
            self.next_seq += 1
            self.records += 1
            yield record
            offset = end

    def _cut(self, offset: int, size: int) -> None:
        if self.truncate and offset < size:
            _truncate(self.path, offset)  # the record being written when the process died: never acknowledged


def _read_key(path: Path, data: bytes) -> bytes:
    head = data[:_FILE_HEADER.size]
    (crc,) = struct.unpack_from("<I", data, _FILE_HEADER.size)
    magic, version, key = _FILE_HEADER.unpack(head)
    if magic != _FILE_MAGIC or zlib.crc32(head) != crc:
        raise ValueError(f"journal '{path}' has a damaged header: restore the shard from a copy")
    if version != VERSION:
        raise ValueError(f"journal '{path}' has format version {version}; this nash_index reads 1 and {VERSION}")
    return key


def _parse(data: bytes, offset: int, code_size: int, key: bytes,
           seq: Optional[int]) -> Tuple[Optional[JournalRecord], int]:
    """The record at ``offset`` if it is whole and authentic (and has sequence number ``seq``
    unless None), with its end; else (None, offset)."""
    if len(data) - offset < HEADER_SIZE:
        return None, offset
    head = data[offset:offset + _HEADER.size]
    if head[:4] != _MAGIC or _mac(key, head) != data[offset + _HEADER.size:offset + HEADER_SIZE]:
        return None, offset
    _, op, op_id, record_seq, count, payload_mac = _HEADER.unpack(head)
    if op not in OPS or (seq is not None and record_seq != seq):
        return None, offset
    width = 8 + (code_size if op == ADD else 0)
    start = offset + HEADER_SIZE
    end = start + count * width
    if end > len(data) or _mac(key, memoryview(data)[start:end]) != payload_mac:
        return None, offset
    ids = np.frombuffer(data, dtype="<i8", count=count, offset=start).astype(np.int64)
    codes = None
    if op == ADD:
        codes = np.frombuffer(data, dtype=np.uint8, count=count * code_size, offset=start + 8 * count)
        codes = codes.reshape(count, code_size).copy()
    return JournalRecord(op, op_id, ids, codes), end


def _check_nothing_valid_after(path: Path, data: bytes, offset: int, key: bytes) -> None:
    """A torn tail is the end of the file: an authentic record header after ``offset`` means
    damage in the middle, and the records after it were acknowledged."""
    probe = data.find(_MAGIC, offset + 1)
    while probe >= 0:
        head = data[probe:probe + _HEADER.size]
        if len(head) == _HEADER.size and _mac(key, head) == data[probe + _HEADER.size:probe + HEADER_SIZE]:
            raise ValueError(f"journal '{path}' is damaged at byte {offset}, before valid records: "
                             "acknowledged changes would be lost; restore the shard from a copy")
        probe = data.find(_MAGIC, probe + 1)


def _truncate(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(offset)
        fh.flush()
        os.fsync(fh.fileno())


class Journal:
    """The journal file of one shard generation, opened for appending (format 2).

    ``replayed``: the :class:`Replay` just iterated over this file (saves reading it again); without
    it the file is read here. A format-1 journal with records cannot be appended to: compact first.
    """

    def __init__(self, path: Union[str, Path], code_size: int, replayed: Optional[Replay] = None) -> None:
        self.path = Path(path)
        self.code_size = code_size
        if replayed is None:
            replayed = Replay(self.path, code_size)
            for _ in replayed:
                pass
        if replayed.version == 1 and replayed.records:
            raise ValueError(f"journal '{self.path}' is in format 1: compact the shard before appending")
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.key, self.seq = replayed.key, replayed.next_seq
        self._header = b""
        if self.key is None:  # an empty journal (0 bytes: "nothing journalled"): the header comes with
            os.ftruncate(self._fd, 0)  # the first record, in the same write
            self.key = os.urandom(16)
            self._header = _file_header(self.key)
        if created:
            fsync_directory(self.path.parent)

    def append(self, op: int, op_id: bytes, ids: np.ndarray, codes: Optional[np.ndarray] = None) -> None:
        """Writes one record and returns once it is on disk."""
        data = memoryview(self._header + _encode(self.key, self.seq, op, op_id, ids, codes))
        start = os.fstat(self._fd).st_size
        try:
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except BaseException:
            os.ftruncate(self._fd, start)  # a failed write (disk full) leaves no torn record behind
            raise
        self.seq += 1
        self._header = b""

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        if hasattr(self, "_fd"):
            self.close()

    @staticmethod
    def replay(path: Union[str, Path], code_size: int, truncate: bool = True) -> Iterator[JournalRecord]:
        """The records of ``path`` in order; truncates a torn tail (unless ``truncate`` is False),
        ValueError on damage before valid records."""
        return iter(Replay(path, code_size, truncate))


def records_of(path: Union[str, Path], code_size: int) -> List[JournalRecord]:
    """Every record of a journal, read without changing the file (tests, tools)."""
    return list(Replay(path, code_size, truncate=False))
