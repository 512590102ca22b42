"""Room for more sections (format version 2) without breaking older files or older readers.

The C++ writer (``_core._write_index_file``: any sections, as an index writes its own) is checked
byte for byte against a Python layout of the format: version 1 (a table of 8 entries) whenever the
sections fit, so that builds reading only version 1 still read those files; version 2 (a table of
exactly nsections entries, up to MAX_SECTIONS) beyond. Unknown optional sections are skipped in
both. Version 1 files of earlier builds: test_release_files.py, test_file_safety.py.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest
from test_file_fuzz import ALIGN, HEADER, SECTION, TAG_CODES, TAG_IDS, TAG_STORE_META, checksum64, run_child

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, scrambled_ids, uniform_codes
from nash_index.index import _core

V1_SLOTS = 8


def layout(kind: int, nbits: int, ntotal: int, sections: list) -> bytes:
    """The file the format specifies for these (tag, payload) sections (index_file.hpp)."""
    version = 1 if len(sections) <= V1_SLOTS else 2
    slots = V1_SLOTS if version == 1 else len(sections)
    offsets, at = [], ALIGN  # the first section's offset is the same in both versions
    for _, payload in sections:
        offsets.append(at)
        at = -(-(at + len(payload)) // ALIGN) * ALIGN
    head = HEADER.pack(b"NASHIDX\0", version, kind, nbits, 0, ntotal, len(sections), 0)
    table = [SECTION.pack(tag, 0, off, len(p), checksum64(p)) for (tag, p), off in zip(sections, offsets)]
    head += b"".join(table) + bytes(SECTION.size * (slots - len(table)))
    head += struct.pack("<Q", checksum64(head))
    out = bytearray(head)
    for (_, payload), off in zip(sections, offsets):
        out += bytes(off - len(out)) + payload
    return bytes(out)


def flat_sections(db: np.ndarray, ids: np.ndarray, extra: int) -> list:
    """A FlatIndex's sections (codes, ids, store metadata) and `extra` optional ones of unknown tags."""
    rng = np.random.default_rng(extra)
    sections = [(TAG_CODES, db.tobytes()), (TAG_IDS, ids.astype("<i8").tobytes()),
                (TAG_STORE_META, struct.pack("<2Q", 1, int(ids.max()) + 1))]
    return sections + [(1000 + i, rng.bytes(int(rng.integers(0, 5000)))) for i in range(extra)]


@pytest.mark.parametrize("extra", [0, 5, 6, 40, _core.MAX_SECTIONS - 3])
def test_writer_matches_the_format_and_every_reader_loads_it(tmp_path, extra):
    rng = np.random.default_rng(3)
    db, ids = uniform_codes(rng, 300, 64), scrambled_ids(rng, 300)
    sections = flat_sections(db, ids, extra)
    path = tmp_path / "f.nidx"
    _core._write_index_file(str(path), 1, 64, 300, sections)
    data = path.read_bytes()
    assert data == layout(1, 64, 300, sections)
    assert struct.unpack_from("<I", data, 8)[0] == (1 if len(sections) <= V1_SLOTS else 2)
    queries = db[:7]
    for index in (ni.load(path), ni.load(path, mmap=True), ni.from_bytes(data)):
        np.testing.assert_array_equal(index.codes(), db)
        np.testing.assert_array_equal(index.ids(), ids)
        assert_knn_matches(index.search(queries, 10), db, ids, queries, 10)
        assert_range_matches(index.range_search(queries, 20), db, ids, queries, 20)
    # Saving keeps what the index knows (3 sections): a version 1 file again.
    ni.load(path).save(tmp_path / "again.nidx")
    assert (tmp_path / "again.nidx").read_bytes() == layout(1, 64, 300, sections[:3])


def test_more_sections_than_the_header_holds_are_refused(tmp_path):
    sections = flat_sections(np.zeros((1, 8), np.uint8), np.zeros(1, np.int64), _core.MAX_SECTIONS - 2)
    with pytest.raises(ValueError, match="too many sections"):
        _core._write_index_file(str(tmp_path / "f.nidx"), 1, 64, 1, sections)


def test_version_2_headers_are_checked_like_version_1(tmp_path):
    db = uniform_codes(np.random.default_rng(5), 20, 64)
    sections = flat_sections(db, np.arange(20), 12)
    good = bytearray(layout(1, 64, 20, sections))
    checked = HEADER.size + SECTION.size * len(sections)  # the header checksum follows the table
    cases = {"table byte": (HEADER.size + 5, None), "checksum": (checked + 1, None),
             "nsections past the table": (None, 200), "nsections fewer": (None, 9)}
    for label, (flip, nsections) in cases.items():
        data = bytearray(good)
        if flip is not None:
            data[flip] ^= 0x10
        else:
            struct.pack_into("<I", data, 32, nsections)
        (tmp_path / "bad.nidx").write_bytes(bytes(data))
        with pytest.raises(ValueError, match="corrupted|truncated"):
            ni.load(tmp_path / "bad.nidx")
    (tmp_path / "short.nidx").write_bytes(bytes(good[:checked]))  # the table lies past the end
    with pytest.raises(ValueError, match="truncated|too short"):
        ni.load(tmp_path / "short.nidx")


def test_unknown_format_versions_are_refused(tmp_path):
    db = uniform_codes(np.random.default_rng(6), 4, 64)
    data = bytearray(layout(1, 64, 4, flat_sections(db, np.arange(4), 0)))
    struct.pack_into("<I", data, 8, 3)
    struct.pack_into("<Q", data, HEADER.size + 8 * SECTION.size, checksum64(bytes(data[:HEADER.size + 8 * SECTION.size])))
    (tmp_path / "v3.nidx").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="has format version 3; this build reads versions 1 to 2"):
        ni.load(tmp_path / "v3.nidx")


def test_hostile_version_2_header_fields_never_crash(tmp_path):
    """Every header and table field of a version 2 file set to edge values, re-signed: refused or
    consistent (the fuzz loop of test_file_fuzz.py, on a version 2 image), in a child interpreter."""
    code = f"""
import struct, numpy as np
import test_file_fuzz as fz, test_file_format as ff
from pathlib import Path
db = np.random.default_rng(7).integers(0, 256, (30, 8), dtype=np.uint8)
sections = ff.flat_sections(db, np.arange(30) * 5, 10)
base = ff.layout(1, 64, 30, sections)
n = len(sections)
fields = [("header", i) for i in range(1, 8)] + [("section", i, f) for i in range(n) for f in range(5)]
failures, cases, path = [], 0, Path({str(tmp_path)!r}) / "h.nidx"
for where in fields:
    at = fz.HEADER.size + where[1] * fz.SECTION.size if where[0] == "section" else 0
    values = list(fz.HEADER.unpack_from(base, 0)) if where[0] == "header" else list(fz.SECTION.unpack_from(base, at))
    slot = where[1] if where[0] == "header" else where[2]
    width = 8 if (where[0] == "header" and slot == 5) or (where[0] == "section" and slot >= 2) else 4
    for v in fz._hostile(values[slot], width, len(base)):
        data = bytearray(base)
        values2 = list(values)
        values2[slot] = v
        (fz.HEADER if where[0] == "header" else fz.SECTION).pack_into(data, at, *values2)
        end = fz.HEADER.size + n * fz.SECTION.size
        struct.pack_into("<Q", data, end, fz.checksum64(bytes(data[:end])))
        for how, thunk in fz.load_every_way(bytes(data), path):
            cases += 1
            try:
                index = thunk()
            except (ValueError, OSError):
                continue
            try:
                fz.check_loaded(index, db[:3])
            except Exception as exc:
                failures.append(f"{{where}}={{v}} {{how}}: {{exc}}")
print("\\n".join(failures[:20]))
print(f"cases={{cases}}", "FAILED" if failures or cases < 1000 else "OK")
"""
    proc = run_child(code, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stdout[-3000:] + proc.stderr[-3000:]
