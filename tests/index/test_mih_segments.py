"""Incremental adds at scale (issue #13): codes added to a large MultiIndexHashing get tables of
their own (delta segments, O(added) to build) instead of a rebuild of everything; queries probe
every segment and stay exact (numpy oracle), removals reach into any segment, deltas merge at 8
segments and everything is rebuilt once the deltas reach half the main segment."""
from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, mih_setting, uniform_codes
from index_file_sections import section_span
from nash_index.index import _core

TAG_TABLES, TAG_DELTAS = 17, 18  # cpp/src/file_sections.hpp


@pytest.fixture(params=["bitmap", "no_bitmap"])
def visited_mode(request):
    limit = 0 if request.param == "no_bitmap" else 1 << 32  # the bitmap at every test size
    with mih_setting("visited_bitmap_limit", limit):
        yield request.param


@pytest.fixture
def short_tail():
    """Tails of at most 500 codes (2^20 by default): deltas, merges and rebuilds at test sizes."""
    with mih_setting("max_tail", 500):
        yield


def _data(seed=0, n=16000, nbits=64):
    rng = np.random.default_rng(seed)
    db = np.concatenate([clustered_codes(rng, n - 2000, nbits, centres=12, p=0.06), uniform_codes(rng, 2000, nbits)])
    db = db[rng.permutation(n)]
    queries = np.concatenate([db[:4], clustered_codes(rng, 6, nbits, centres=db[:3], p=0.08)])
    return db, queries


def _check(index, db, ids, queries):
    index.set_fallback("never")
    for k in (1, 10, 100):
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)
    assert_range_matches(index.range_search(queries, 10), db, ids, queries, 10)
    index.set_fallback("auto")


def test_adds_become_delta_segments_then_merge_then_rebuild(visited_mode, short_tail):
    db, queries = _data(n=20000)
    index = ni.MultiIndexHashing(64)
    index.add(db[:12000])
    assert index.segments == 1 and index.indexed == 12000
    seen = []
    end = 12000
    for step in range(1, 9):  # 600 codes each: past the longest tail every time
        index.add(db[end:end + 600])
        end += 600
        seen.append(index.segments)
        assert index.indexed == end  # the new codes were indexed, not left in the tail
        _check(index, db[:end], np.arange(end), queries)
    # deltas 1..7, then the 8th add merges the deltas (main + one delta)
    assert seen[:7] == [2, 3, 4, 5, 6, 7, 8] and seen[7] == 2
    index.add(db[end:])  # 3,200 codes: the deltas pass half the main segment: one segment again
    assert index.segments == 1 and index.indexed == len(db)
    _check(index, db, np.arange(len(db)), queries)


def test_removal_reaches_every_segment_and_scrambled_ids(visited_mode, short_tail):
    db, queries = _data(1)
    rng = np.random.default_rng(1)
    ids = rng.permutation(len(db)).astype(np.int64) * 5 + 1
    index = ni.MultiIndexHashing(64)
    index.add(db[:8000], ids[:8000])
    for lo in range(8000, 11000, 600):
        index.add(db[lo:lo + 600], ids[lo:lo + 600])
    assert index.segments >= 4
    keep = np.ones(11000, bool)
    doomed = rng.choice(11000, 700, replace=False)  # under 1/8: tombstones in several segments
    keep[doomed] = False
    assert index.remove(ids[doomed]) == 700
    assert index.tombstones == 700 and index.segments >= 4
    _check(index, db[:11000][keep], ids[:11000][keep], queries)
    index.add(db[11000:11700], ids[11000:11700])  # a delta after removals: positions shift
    keep = np.concatenate([keep, np.ones(700, bool)])
    _check(index, db[:11700][keep], ids[:11700][keep], queries)


@pytest.mark.parametrize("mmap", [True, False])
def test_segmented_index_saves_and_loads_its_segments(tmp_path, short_tail, mmap):
    db, queries = _data(2)
    index = ni.MultiIndexHashing(64)
    index.add(db[:8000])
    index.add(db[8000:8600])
    index.add(db[8600:9200])
    assert index.segments == 3
    index.save(tmp_path / "seg.nidx")  # every segment's tables: loaded as they are, no rebuild
    file = _core.open_index_file(str(tmp_path / "seg.nidx"))
    assert file.has_section(TAG_TABLES) and file.has_section(TAG_DELTAS)
    back = ni.load(tmp_path / "seg.nidx", mmap=mmap)
    assert back.segments == 3 and back.indexed == 9200 and back.table_bytes == index.table_bytes
    _check(back, db[:9200], np.arange(9200), queries)
    back.add(db[9200:9800])  # and it keeps growing by deltas
    assert back.segments == 4
    _check(back, db[:9800], np.arange(9800), queries)
    assert pickle.loads(pickle.dumps(index)).segments == 3


def test_segments_with_tombstones_are_saved_and_served(tmp_path, short_tail):
    db, queries = _data(4)
    index = ni.MultiIndexHashing(64)
    index.add(db[:8000])
    index.add(db[8000:8600])
    index.remove(np.arange(10))
    index.save(tmp_path / "t.nidx")
    assert _core.open_index_file(str(tmp_path / "t.nidx")).has_section(TAG_TABLES)
    back = ni.load(tmp_path / "t.nidx")  # issue #25: the segments and their tombstones, no rebuild
    assert back.segments == index.segments == 2 and back.tombstones == 10
    _check(back, db[10:8600], np.arange(10, 8600), queries)


@pytest.mark.parametrize("damage", ["version", "count", "size", "truncated"])
def test_damaged_delta_section_is_a_format_error(tmp_path, short_tail, damage):
    db, _ = _data(5)
    index = ni.MultiIndexHashing(64)
    index.add(db[:8000])
    index.add(db[8000:8600])
    path = tmp_path / "d.nidx"
    index.save(path)
    raw = bytearray(path.read_bytes())
    offset, size = section_span(raw, TAG_DELTAS)
    words = {"version": (0, 7), "count": (1, 9), "size": (2, 10**6), "truncated": (2, 8)}[damage]
    struct.pack_into("<Q", raw, offset + 8 * words[0], words[1])
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="multi-index (delta )?tables"):
        ni.load(path, verify=False)
    with pytest.raises(ValueError, match="checksum|multi-index (delta )?tables"):
        ni.load(path)


def test_small_indexes_still_rebuild_whole(visited_mode):
    db, queries = _data(3, n=4000)
    index = ni.MultiIndexHashing(64)
    index.add(db[:2000])
    index.add(db[2000:2400])  # under 4,096 indexed codes: a full rebuild
    assert index.segments == 1 and index.indexed == 2400
    _check(index, db[:2400], np.arange(2400), queries)
