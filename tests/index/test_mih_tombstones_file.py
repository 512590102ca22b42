"""MultiIndexHashing files keep their tables when removals left tombstones (issue #25): the
tombstones are saved in a section of their own (metadata version 3), load serves the tables
without a rebuild and answers like the numpy oracle; files of older builds (tables dropped,
metadata version 2) still load by rebuilding; damaged tombstone sections are refused."""
from __future__ import annotations

import struct

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, scrambled_ids
from nash_index.index import _core

HEADER = struct.Struct("<8s4IQ2I")  # magic, version, kind, nbits, flags, ntotal, nsections, reserved
SECTION = struct.Struct("<2I3Q")    # tag, reserved, offset, bytes, checksum
TAG_MIH_META, TAG_TABLES, TAG_DELTAS, TAG_TOMBSTONES = 16, 17, 18, 19


def sections_of(path) -> tuple:
    """(kind, nbits, ntotal, [(tag, payload)]) of a saved index file."""
    raw = path.read_bytes()
    _, _, kind, nbits, _, ntotal, nsections, _ = HEADER.unpack_from(raw)
    out = []
    for i in range(nsections):
        tag, _, offset, size, _ = SECTION.unpack_from(raw, HEADER.size + i * SECTION.size)
        out.append((tag, raw[offset:offset + size]))
    return kind, nbits, ntotal, out


def rewrite(path, target, change) -> None:
    """Writes `target`: `path`'s sections passed through change(list) -> list, checksums made anew."""
    kind, nbits, ntotal, sections = sections_of(path)
    _core._write_index_file(str(target), kind, nbits, ntotal, change(sections))


@pytest.fixture
def removed(tmp_path):
    """An index whose main segment and a delta segment both hold tombstones, its oracle, and its file."""
    rng = np.random.default_rng(11)
    codes = clustered_codes(rng, 9000, 64, centres=20, p=0.08)
    ids = scrambled_ids(rng, len(codes))
    index = ni.MultiIndexHashing(64)
    index.add(codes[:8000], ids[:8000])
    index.add(codes[8000:], ids[8000:])  # past 1/16 of the tables: a delta segment
    assert index.segments == 2
    doomed = np.concatenate([ids[:8000:17], ids[8000::23]])
    assert index.remove(doomed) == len(doomed)
    keep = ~np.isin(ids, doomed)
    assert index.tombstones == len(doomed) and index.segments == 2
    path = tmp_path / "removed.nidx"
    index.save(path)
    queries = clustered_codes(rng, 40, 64, centres=codes[::450], p=0.1)
    return index, codes[keep], ids[keep], queries, path


def check(index, db, ids, queries) -> None:
    for k in (1, 10, 50):
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)
    assert_range_matches(index.range_search(queries, 10), db, ids, queries, 10)


@pytest.mark.parametrize("mmap", [False, True])
def test_tombstones_are_saved_with_the_tables(removed, mmap):
    index, db, ids, queries, path = removed
    tags = [tag for tag, _ in sections_of(path)[3]]
    assert TAG_TABLES in tags and TAG_DELTAS in tags and TAG_TOMBSTONES in tags
    loaded = ni.load(path, mmap=mmap)
    assert loaded.tombstones == index.tombstones and loaded.segments == 2  # no rebuild: the same tables
    assert loaded.indexed == loaded.ntotal == len(ids)
    loaded.set_fallback("never")  # every query walks the tables, tombstones included
    check(loaded, db, ids, queries)
    # More removals after the load, then save and load again.
    more = ids[5:400:7]
    assert loaded.remove(more) == len(more)
    keep = ~np.isin(ids, more)
    loaded.save(path.with_name("again.nidx"))
    again = ni.load(path.with_name("again.nidx"), mmap=mmap)
    assert again.tombstones == index.tombstones + len(more)
    again.set_fallback("never")
    check(again, db[keep], ids[keep], queries)
    again.optimize()
    assert again.tombstones == 0
    check(again, db[keep], ids[keep], queries)


def test_old_format_without_tables_still_loads(removed, tmp_path):
    """What builds before this change wrote after a removal: metadata version 2, no tables."""
    _, db, ids, queries, path = removed

    def old(sections):
        kept = [(t, p) for t, p in sections if t not in (TAG_TABLES, TAG_DELTAS, TAG_TOMBSTONES)]
        return [(t, struct.pack("<I", 2) + p[4:] if t == TAG_MIH_META else p) for t, p in kept]

    rewrite(path, tmp_path / "old.nidx", old)
    loaded = ni.load(tmp_path / "old.nidx")
    assert loaded.tombstones == 0 and loaded.indexed == len(ids)  # rebuilt at load
    check(loaded, db, ids, queries)


def bad_bitmaps(payload: bytes) -> list:
    words = list(struct.unpack(f"<{len(payload) // 8}Q", payload))
    version = [9] + words[1:]
    count = words[:1] + [words[1] + 1] + words[2:]
    overrun = words[:2] + [words[2] + 5] + words[3:]
    short = words[:-1]
    past_end = words[:-1] + [words[-1] | (1 << 63)]  # the delta's 1000 positions: bit 1023 is past the end
    return [version, count, overrun, short, past_end]


def pack(words: list) -> bytes:
    return struct.pack(f"<{len(words)}Q", *words)


@pytest.mark.parametrize("case", range(5))
def test_damaged_tombstones_are_a_format_error(removed, tmp_path, case):
    _, _, _, _, path = removed

    def damage(sections):
        return [(t, pack(bad_bitmaps(p)[case]) if t == TAG_TOMBSTONES else p) for t, p in sections]

    rewrite(path, tmp_path / "bad.nidx", damage)
    for mmap in (False, True):
        with pytest.raises(ValueError, match="tombstones"):
            ni.load(tmp_path / "bad.nidx", mmap=mmap)


def test_tombstones_need_their_metadata_version(removed, tmp_path):
    _, _, _, _, path = removed
    drop_section = lambda s: [(t, p) for t, p in s if t != TAG_TOMBSTONES]  # noqa: E731
    old_meta = lambda s: [(t, struct.pack("<I", 2) + p[4:] if t == TAG_MIH_META else p) for t, p in s]  # noqa: E731
    for change in (drop_section, old_meta):
        rewrite(path, tmp_path / "bad.nidx", change)
        with pytest.raises(ValueError, match="tombstones"):
            ni.load(tmp_path / "bad.nidx")


def test_flipped_byte_in_the_tombstones_is_caught_by_verify(removed, tmp_path):
    _, _, _, _, path = removed
    raw = bytearray(path.read_bytes())
    for i in range(HEADER.unpack_from(raw)[6]):
        tag, _, offset, size, _ = SECTION.unpack_from(raw, HEADER.size + i * SECTION.size)
        if tag == TAG_TOMBSTONES:
            raw[offset + size - 3] ^= 0x10
    (tmp_path / "flipped.nidx").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum"):
        ni.load(tmp_path / "flipped.nidx", verify=True)
