"""Persistence: save/load (read and mmap) and pickle round trips of every registered kind (kinds.py);
FlatIndex's files under corruption, truncation and failed writes."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import nash_index as ni
from conftest import DEDUP_KINDS, KINDS, assert_knn_matches, clustered_codes, scrambled_ids, uniform_codes


def in_added_order(index, kind, ids):
    """(codes, ids) of ``index`` in the order ``ids`` were added (dedup kinds store by distinct code)."""
    codes, stored = index.codes(), index.ids()
    if kind not in DEDUP_KINDS:
        return codes, stored
    position = {int(i): p for p, i in enumerate(stored)}
    order = np.array([position[int(i)] for i in ids], dtype=np.int64)
    assert len(order) == len(stored)
    return codes[order], stored[order]


def make_index(rng, n=700, nbits=128, custom_ids=True, kind="flat"):
    db = clustered_codes(rng, n, nbits, centres=4, p=0.05)
    ids = scrambled_ids(rng, n) if custom_ids else np.arange(n, dtype=np.int64)
    index = ni.make_index(nbits, kind=kind)
    index.add(db, ids if custom_ids else None)
    return index, db, ids


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("custom_ids", [False, True])
@pytest.mark.parametrize("nbits", [8, 72, 256])
def test_save_load_round_trip(tmp_path, flat_rng, mmap, custom_ids, nbits, kind):
    index, db, ids = make_index(flat_rng, nbits=nbits, custom_ids=custom_ids, kind=kind)
    path = tmp_path / "index.nidx"
    index.save(path)
    loaded = ni.load(path, mmap=mmap)
    assert type(loaded) is type(index) and loaded.kind == kind
    assert (loaded.nbits, loaded.ntotal) == (nbits, len(db))
    codes, stored = in_added_order(loaded, kind, ids)
    np.testing.assert_array_equal(codes, db)
    np.testing.assert_array_equal(stored, ids)
    queries = db[::40]
    assert_knn_matches(loaded.search(queries, 12), db, ids, queries, 12)
    np.testing.assert_array_equal(loaded.range_search(queries, 9).ids, index.range_search(queries, 9).ids)


def test_mmap_index_stays_valid_after_file_replaced_and_can_mutate(tmp_path, flat_rng, kind):
    index, db, ids = make_index(flat_rng, kind=kind)
    path = str(tmp_path / "a.nidx")
    index.save(path)
    mapped = ni.load(path, mmap=True)
    assert mapped.is_mapped
    index.save(path)  # atomic rename: the mapped inode stays intact
    assert_knn_matches(mapped.search(db[:5], 7), db, ids, db[:5], 7)
    extra = uniform_codes(flat_rng, 3, 128)
    mapped.add(extra)  # first mutation copies the mapping into memory
    assert not mapped.is_mapped
    all_ids = np.concatenate([ids, ids.max() + 1 + np.arange(3)])
    assert_knn_matches(mapped.search(extra, 3), np.concatenate([db, extra]), all_ids, extra, 3)
    mapped.remove(ids[:10])
    assert mapped.ntotal == len(db) + 3 - 10


def test_empty_index_round_trip(tmp_path, kind):
    path = tmp_path / "empty.nidx"
    ni.make_index(64, kind=kind).save(path)
    for mmap in (False, True):
        loaded = ni.load(path, mmap=mmap)
        assert loaded.ntotal == 0 and loaded.nbits == 64 and loaded.kind == kind


def test_save_then_add_continues_ids(tmp_path, flat_rng, kind):
    index, db, ids = make_index(flat_rng, custom_ids=False, kind=kind)
    index.save(tmp_path / "x.nidx")
    loaded = ni.load(tmp_path / "x.nidx")
    loaded.add(db[:2])
    assert sorted(set(loaded.ids().tolist()) - set(ids.tolist())) == [len(db), len(db) + 1]


def test_pickle_round_trip(flat_rng, kind):
    index, db, ids = make_index(flat_rng, kind=kind)
    clone = pickle.loads(pickle.dumps(index))
    assert type(clone) is type(index) and clone.kind == kind
    codes, stored = in_added_order(clone, kind, ids)
    np.testing.assert_array_equal(codes, db)
    np.testing.assert_array_equal(stored, ids)
    assert_knn_matches(clone.search(db[:9], 5), db, ids, db[:9], 5)
    clone.add(db[:1], [10**9])  # independent of the original
    assert clone.ntotal == index.ntotal + 1


def test_atomic_write_leaves_no_temp_file(tmp_path, flat_rng):
    index, _, _ = make_index(flat_rng)
    path = tmp_path / "i.nidx"
    index.save(path)
    index.save(path)  # overwrite
    assert sorted(os.listdir(tmp_path)) == ["i.nidx"]


def test_failed_write_raises_oserror_and_leaves_nothing(tmp_path, flat_rng):
    index, _, _ = make_index(flat_rng)
    with pytest.raises(OSError):
        index.save(tmp_path / "no_such_dir" / "i.nidx")
    target = tmp_path / "is_a_dir"
    target.mkdir()
    with pytest.raises(OSError):
        index.save(target)  # rename over a directory fails
    assert sorted(os.listdir(tmp_path)) == ["is_a_dir"]
    assert os.listdir(target) == []


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        ni.load(tmp_path / "missing.nidx")
    with pytest.raises(OSError):
        ni.load(tmp_path / "missing.nidx", mmap=True)


def _saved_bytes(tmp_path, rng):
    index, _, _ = make_index(rng, n=500, nbits=64)
    path = tmp_path / "c.nidx"
    index.save(path)
    return path, bytearray(path.read_bytes())


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("keep", [0, 10, 100, 4096, -1])
def test_truncated_file_detected(tmp_path, flat_rng, mmap, keep):
    path, data = _saved_bytes(tmp_path, flat_rng)
    path.write_bytes(bytes(data[: (len(data) + keep if keep < 0 else keep)]))
    with pytest.raises(ValueError, match="truncated|too short|not a nash_index"):
        ni.load(path, mmap=mmap)


@pytest.mark.parametrize("where", ["magic", "header", "codes", "ids"])
def test_corrupted_file_detected(tmp_path, flat_rng, where):
    path, data = _saved_bytes(tmp_path, flat_rng)
    # sections are 4096-aligned: codes at 4096, ids at the next page
    offset = {"magic": 0, "header": 20, "codes": 4096 + 17, "ids": 8192 + 3}[where]
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted|not a nash_index"):
        ni.load(path)


def test_from_bytes_round_trip_and_corruption_detected(flat_rng):
    from nash_index.index.base import from_bytes

    index, db, ids = make_index(flat_rng, n=100, nbits=64)
    data = bytearray(index._impl.serialize())
    clone = from_bytes(bytes(data))
    assert isinstance(clone, ni.FlatIndex)
    assert_knn_matches(clone.search(db[:4], 6), db, ids, db[:4], 6)
    data[4096 + 5] ^= 1
    with pytest.raises(ValueError, match="corrupted"):
        from_bytes(bytes(data))
    with pytest.raises(ValueError, match="too short"):
        from_bytes(bytes(data[:50]))


def test_not_an_index_file(tmp_path):
    path = tmp_path / "junk.nidx"
    path.write_bytes(b"x" * 10000)
    with pytest.raises(ValueError, match="not a nash_index"):
        ni.load(path)


def test_from_bytes_takes_any_contiguous_bytes_like(flat_rng):
    index = ni.FlatIndex(64)
    index.add(uniform_codes(flat_rng, 50, 64))
    data = pickle.dumps(index)
    blob = pickle.loads(data).codes()
    raw = index.__reduce__()[1][0]
    for form in (raw, bytearray(raw), memoryview(raw), memoryview(bytearray(raw))):
        np.testing.assert_array_equal(ni.from_bytes(form).codes(), blob)
    for bad in ("text", 3, np.zeros(4)):
        with pytest.raises(TypeError, match="data must be bytes"):
            ni.from_bytes(bad)


def test_removing_absent_ids_keeps_the_mapping(tmp_path, flat_rng, kind):
    """Nothing to remove: the mapped codes are not copied into memory."""
    index = ni.make_index(64, kind=kind)
    index.add(uniform_codes(flat_rng, 300, 64), np.arange(300) * 2)
    index.save(tmp_path / "a.nidx")
    mapped = ni.load(tmp_path / "a.nidx", mmap=True)
    assert mapped.remove([1, 3, 10**9, -5]) == 0 and mapped.is_mapped
    # a dedup kind copies its id lists; its distinct codes stay mapped (a removal never changes them)
    assert mapped.remove([4, 4]) == 1 and mapped.is_mapped == (kind in DEDUP_KINDS)
    np.testing.assert_array_equal(mapped.ids(), np.delete(np.arange(300) * 2, 2))
