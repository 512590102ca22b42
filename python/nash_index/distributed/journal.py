"""An append-only journal of a shard's adds and removes: what makes an acknowledged change durable.

Each record is written with one ``write`` and ``fsync``-ed before the change is acknowledged, so a
``kill -9`` (or a power cut) can only tear the record being written, at the end of the file.
Replaying drops such a torn tail; damage followed by valid records (bit rot, an edited file) is
reported instead of being skipped, since records after it were acknowledged.

Record layout (little-endian): a 40-byte header ``magic "NJL1" | op u32 | op_id 16 bytes |
count u64 | payload crc32 u32 | header crc32 u32`` (the header checksum covers the first 36
bytes), then the payload: ``count`` int64 ids, followed for an add by ``count * code_size`` code
bytes.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Union

import numpy as np

from ..atomic_io import fsync_directory

__all__ = ["ADD", "REMOVE", "UNDO", "Journal", "JournalRecord"]

ADD = 1
REMOVE = 2
UNDO = 3  # undoes an add that failed on another shard: payload = [largest id before that add, *ids]
_MAGIC = b"NJL1"
_HEADER = struct.Struct("<4sI16sQI")  # followed by the header's own crc32
HEADER_SIZE = _HEADER.size + 4


class JournalRecord(NamedTuple):
    op: int
    op_id: bytes
    ids: np.ndarray
    codes: Optional[np.ndarray]  # (count, code_size) uint8 for ADD, None otherwise


def _encode(op: int, op_id: bytes, ids: np.ndarray, codes: Optional[np.ndarray]) -> bytes:
    payload = ids.astype("<i8", copy=False).tobytes()
    if codes is not None:
        payload += np.ascontiguousarray(codes).tobytes()
    head = _HEADER.pack(_MAGIC, op, op_id, int(ids.shape[0]), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


class Journal:
    """The journal file of one shard generation, opened for appending."""

    def __init__(self, path: Union[str, Path], code_size: int) -> None:
        self.path = Path(path)
        self.code_size = code_size
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if created:
            fsync_directory(self.path.parent)

    def append(self, op: int, op_id: bytes, ids: np.ndarray, codes: Optional[np.ndarray] = None) -> None:
        """Writes one record and returns once it is on disk."""
        data = memoryview(_encode(op, op_id, ids, codes))
        start = os.fstat(self._fd).st_size
        try:
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except BaseException:
            os.ftruncate(self._fd, start)  # a failed write (disk full) leaves no torn record behind
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    @staticmethod
    def replay(path: Union[str, Path], code_size: int) -> Iterator[JournalRecord]:
        """The records of ``path`` in order; truncates a torn tail, ValueError on damage before valid records."""
        path = Path(path)
        if not path.exists():
            return
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            record, end = _parse(data, offset, code_size)
            if record is None:
                _drop_torn_tail(path, data, offset, code_size)
                return
            yield record
            offset = end


def _parse(data: bytes, offset: int, code_size: int):
    if len(data) - offset < HEADER_SIZE:
        return None, offset
    head = data[offset:offset + _HEADER.size]
    (head_crc,) = struct.unpack_from("<I", data, offset + _HEADER.size)
    if zlib.crc32(head) != head_crc:
        return None, offset
    magic, op, op_id, count, payload_crc = _HEADER.unpack(head)
    if magic != _MAGIC or op not in (ADD, REMOVE, UNDO):
        return None, offset
    width = 8 + (code_size if op == ADD else 0)
    start = offset + HEADER_SIZE
    end = start + count * width
    if end > len(data) or zlib.crc32(data[start:end]) != payload_crc:
        return None, offset
    ids = np.frombuffer(data, dtype="<i8", count=count, offset=start).astype(np.int64)
    codes = None
    if op == ADD:
        codes = np.frombuffer(data, dtype=np.uint8, count=count * code_size, offset=start + 8 * count)
        codes = codes.reshape(count, code_size).copy()
    return JournalRecord(op, op_id, ids, codes), end


def _drop_torn_tail(path: Path, data: bytes, offset: int, code_size: int) -> None:
    probe = data.find(_MAGIC, offset + 1)
    while probe >= 0:
        if _parse(data, probe, code_size)[0] is not None:
            raise ValueError(f"journal '{path}' is damaged at byte {offset}, before valid records: "
                             "acknowledged changes would be lost; restore the shard from a copy")
        probe = data.find(_MAGIC, probe + 1)
    with open(path, "r+b") as fh:  # the record being written when the process died: never acknowledged
        fh.truncate(offset)
        fh.flush()
        os.fsync(fh.fileno())
