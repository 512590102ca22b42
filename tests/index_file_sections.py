"""Reading and damaging an index file's sections by hand, from its header (the layout written by
``cpp/src/index_file.cpp``): what the file-safety tests use to flip one byte of one section."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Tuple


def section_span(raw: bytes, tag: int) -> Tuple[int, int]:
    """(offset, bytes) of section ``tag`` in the file's bytes ``raw``; KeyError if it has none."""
    nsections = struct.unpack_from("<I", raw, 32)[0]
    for i in range(nsections):
        t, _, offset, size, _ = struct.unpack_from("<2I3Q", raw, 40 + 32 * i)
        if t == tag:
            return offset, size
    raise KeyError(tag)


def damage_section(path: Path, tag: int, at_end: bool = True) -> None:
    """Flips one byte of section ``tag`` (3 bytes before its end, or its middle), leaving the
    header's checksums as they were."""
    raw = bytearray(path.read_bytes())
    offset, size = section_span(raw, tag)
    raw[offset + (size - 3 if at_end else size // 2)] ^= 0x5A
    path.write_bytes(bytes(raw))
