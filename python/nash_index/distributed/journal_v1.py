"""Reading format-1 shard journals (nash_index before format 2): CRC-checked records, no file header.

Record layout (little-endian): ``magic "NJL1" | op u32 | op_id 16 bytes | count u64 | payload
crc32 u32 | header crc32 u32`` (the header checksum covers the first 36 bytes), then ``count``
int64 ids and, for an add, ``count * code_size`` code bytes. Only read: writers compact such a
journal into a new generation, whose journal is format 2 (see :mod:`.journal` for why).
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np

__all__ = ["MAGIC", "encode", "replay"]

MAGIC = b"NJL1"
_HEADER = struct.Struct("<4sI16sQI")
HEADER_SIZE = _HEADER.size + 4
_OPS = (1, 2, 3)

Record = Tuple[int, bytes, np.ndarray, Optional[np.ndarray]]


def encode(op: int, op_id: bytes, ids: np.ndarray, codes: Optional[np.ndarray]) -> bytes:
    """One format-1 record (tests write old journals with it)."""
    payload = ids.astype("<i8", copy=False).tobytes()
    if codes is not None:
        payload += np.ascontiguousarray(codes).tobytes()
    head = _HEADER.pack(MAGIC, op, op_id, int(ids.shape[0]), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def replay(path: Path, data: bytes, code_size: int, truncate: bool) -> Iterator[Record]:
    offset = 0
    while offset < len(data):
        record, end = _parse(data, offset, code_size)
        if record is None:
            _drop_torn_tail(path, data, offset, code_size, truncate)
            return
        yield record
        offset = end


def _parse(data: bytes, offset: int, code_size: int) -> Tuple[Optional[Record], int]:
    if len(data) - offset < HEADER_SIZE:
        return None, offset
    head = data[offset:offset + _HEADER.size]
    (head_crc,) = struct.unpack_from("<I", data, offset + _HEADER.size)
    if zlib.crc32(head) != head_crc:
        return None, offset
    magic, op, op_id, count, payload_crc = _HEADER.unpack(head)
    if magic != MAGIC or op not in _OPS:
        return None, offset
    width = 8 + (code_size if op == 1 else 0)
    start = offset + HEADER_SIZE
    end = start + count * width
    if end > len(data) or zlib.crc32(data[start:end]) != payload_crc:
        return None, offset
    ids = np.frombuffer(data, dtype="<i8", count=count, offset=start).astype(np.int64)
    codes = None
    if op == 1:
        codes = np.frombuffer(data, dtype=np.uint8, count=count * code_size, offset=start + 8 * count)
        codes = codes.reshape(count, code_size).copy()
    return (op, op_id, ids, codes), end


def _drop_torn_tail(path: Path, data: bytes, offset: int, code_size: int, truncate: bool) -> None:
    probe = data.find(MAGIC, offset + 1)
    while probe >= 0:
        if _parse(data, probe, code_size)[0] is not None:
            raise ValueError(f"journal '{path}' is damaged at byte {offset}, before valid records: "
                             "acknowledged changes would be lost; restore the shard from a copy")
        probe = data.find(MAGIC, probe + 1)
    if truncate:
        with open(path, "r+b") as fh:
            fh.truncate(offset)
            fh.flush()
            os.fsync(fh.fileno())
