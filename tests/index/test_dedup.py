"""Identical codes stored once (flat_dedup, mih_dedup): against numpy brute force and FlatIndex
on codes with heavy duplicates (many ids per code, ties across codes at one distance, k beyond
ntotal, removes, adds after removes, range search, files), and make_index's choice by the
measured duplicate share."""
from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
from test_file_fuzz import FileImage

import nash_index as ni
from conftest import DEDUP_KINDS, assert_knn_matches, assert_range_matches, uniform_codes
from nash_index.index.factory import DEDUP_MIN_SHARE, auto_kind, duplicate_share


def few_codes(rng, n, nbits, distinct):
    """``n`` codes drawn from ``distinct`` random ones (each repeated ~n / distinct times)."""
    base = uniform_codes(rng, distinct, nbits)
    return base[rng.integers(0, distinct, n)]


def tied_codes(nbits=16):
    """Codes at equal distances from the zero query: every one-bit code, each several times."""
    code_size = nbits // 8
    singles = np.zeros((nbits, code_size), np.uint8)
    for bit in range(nbits):
        singles[bit, bit // 8] = 1 << (bit % 8)
    return np.concatenate([singles] * 5 + [np.zeros((3, code_size), np.uint8)])


@pytest.fixture(params=DEDUP_KINDS)
def kind(request):
    return request.param


@pytest.mark.parametrize("nbits", [16, 64])
@pytest.mark.parametrize("distinct", [1, 7, 60])
def test_search_matches_brute_force_with_many_ids_per_code(kind, nbits, distinct):
    rng = np.random.default_rng(distinct + nbits)
    db = few_codes(rng, 900, nbits, distinct)
    ids = rng.permutation(5000)[:900].astype(np.int64)
    index = ni.make_index(nbits, kind=kind)
    index.add(db, ids)
    queries = np.concatenate([db[:5], uniform_codes(rng, 5, nbits)])
    for k in (1, 2, 10, 150, 899, 900, 1000):
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)
    for radius in (0, 3, nbits // 2, nbits):
        assert_range_matches(index.range_search(queries, radius), db, ids, queries, radius)


def test_ties_across_codes_take_the_smallest_ids(kind):
    db = tied_codes()
    rng = np.random.default_rng(1)
    ids = rng.permutation(len(db)).astype(np.int64) * 7
    index = ni.make_index(16, kind=kind)
    index.add(db, ids)
    query = np.zeros((1, 2), np.uint8)
    for k in (1, 3, 4, 5, 20, 60, len(db), len(db) + 5):
        assert_knn_matches(index.search(query, k), db, ids, query, k)
    hand = index.search(query, 4)  # the three zero codes, then the smallest id among the 80 at distance 1
    assert hand.distances.tolist() == [[0, 0, 0, 1]]
    assert hand.ids[0, 3] == ids[: 16 * 5].min()


def test_removes_and_adds_after_removes(kind):
    rng = np.random.default_rng(3)
    db = few_codes(rng, 600, 64, 12)
    ids = np.arange(600, dtype=np.int64) * 2
    index = ni.make_index(64, kind=kind)
    index.add(db, ids)
    keep = np.ones(600, bool)
    # every copy of one code (its group disappears), then half of the rest
    whole = np.flatnonzero((db == db[0]).all(axis=1))
    assert index.remove(ids[whole]) == len(whole)
    keep[whole] = False
    half = rng.choice(np.flatnonzero(keep), size=keep.sum() // 2, replace=False)
    assert index.remove(np.concatenate([ids[half], [1, 10**9]])) == len(half)
    keep[half] = False
    queries = np.concatenate([db[:3], uniform_codes(rng, 3, 64)])
    for k in (1, 10, 400):
        assert_knn_matches(index.search(queries, k), db[keep], ids[keep], queries, k)
    more = np.concatenate([db[whole[:2]], uniform_codes(rng, 5, 64)])
    index.add(more)  # default ids continue after the largest ever added
    all_db = np.concatenate([db[keep], more])
    all_ids = np.concatenate([ids[keep], 1199 + np.arange(7)])  # after 1198, as FlatIndex
    assert index.ntotal == len(all_ids)
    for k in (1, 10, 400):
        assert_knn_matches(index.search(queries, k), all_db, all_ids, queries, k)
    assert_range_matches(index.range_search(queries, 20), all_db, all_ids, queries, 20)
    for i in (0, len(all_ids) - 1):
        np.testing.assert_array_equal(index.reconstruct(all_ids[i]), all_db[i])
    with pytest.raises(KeyError):
        index.reconstruct(int(ids[whole[0]]))


def test_removing_everything_then_adding(kind):
    rng = np.random.default_rng(4)
    db = few_codes(rng, 100, 64, 3)
    index = ni.make_index(64, kind=kind)
    index.add(db)
    assert index.remove(np.arange(100)) == 100 and index.ntotal == 0
    result = index.search(db[:2], 3)
    assert (result.ids == -1).all() and (result.distances == np.iinfo(np.int32).max).all()
    index.add(db[:4], [5, 6, 7, 8])
    assert_knn_matches(index.search(db[:2], 6), db[:4], np.array([5, 6, 7, 8]), db[:2], 6)


def test_same_answers_as_flat_and_mih_through_a_random_history():
    rng = np.random.default_rng(5)
    indexes = [ni.make_index(64, kind=kind) for kind in ("flat", "mih", *DEDUP_KINDS)]
    next_id = 0
    live = []
    for _ in range(12):
        n = int(rng.integers(1, 300))
        db = few_codes(rng, n, 64, int(rng.integers(1, 40)))
        ids = np.arange(next_id, next_id + n) * 3 % 100_003
        next_id += n
        live.extend(ids.tolist())
        for index in indexes:
            index.add(db, ids)
        doomed = rng.choice(live, size=len(live) // 3, replace=False)
        live = sorted(set(live) - set(doomed.tolist()))
        assert len({index.remove(doomed) for index in indexes}) == 1
        queries = np.concatenate([db[:4], uniform_codes(rng, 2, 64)])
        reference = indexes[0]
        for index in indexes[1:]:
            for k in (1, 10, 100):
                want, got = reference.search(queries, k), index.search(queries, k)
                np.testing.assert_array_equal(got.distances, want.distances)
                np.testing.assert_array_equal(got.ids, want.ids)


@pytest.mark.parametrize("mmap", [False, True])
def test_file_round_trip_keeps_groups_and_answers(tmp_path, kind, mmap):
    rng = np.random.default_rng(6)
    db = few_codes(rng, 500, 64, 9)
    ids = rng.permutation(500).astype(np.int64) + 10
    index = ni.make_index(64, kind=kind)
    index.add(db, ids)
    index.remove(ids[:30])
    path = tmp_path / "d.nidx"
    index.save(path)
    loaded = ni.load(path, mmap=mmap)
    assert loaded.kind == kind and loaded.ntotal == 470 and loaded.is_mapped == mmap
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    np.testing.assert_array_equal(loaded.codes(), index.codes())
    queries = db[::50]
    assert_knn_matches(loaded.search(queries, 40), db[30:], ids[30:], queries, 40)
    clone = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(clone.search(queries, 40).ids, loaded.search(queries, 40).ids)
    loaded.add(db[:5], [1, 2, 3, 4, 5])  # a mapped index copies what it changes
    assert_knn_matches(loaded.search(queries, 40), np.concatenate([db[30:], db[:5]]),
                       np.concatenate([ids[30:], [1, 2, 3, 4, 5]]), queries, 40)


def test_storage_order_is_by_distinct_code_then_id(kind):
    db = np.array([[1], [2], [1], [3], [2], [1]], np.uint8)
    index = ni.make_index(8, kind=kind)
    index.add(db, [50, 40, 10, 30, 20, 60])
    assert index.ids().tolist() == [10, 50, 60, 20, 40, 30]
    assert index.codes().ravel().tolist() == [1, 1, 1, 2, 2, 3]


def test_bad_ids_are_refused_like_flat(kind):
    index = ni.make_index(8, kind=kind)
    index.add(np.array([[1], [1]], np.uint8), [3, 4])
    with pytest.raises(ValueError, match="unique"):
        index.add(np.array([[2]], np.uint8), [4])
    with pytest.raises(ValueError, match="unique"):
        index.add(np.array([[2], [2]], np.uint8), [9, 9])
    with pytest.raises(ValueError, match=">= 0"):
        index.add(np.array([[2]], np.uint8), [-2])
    assert index.ntotal == 2


def test_duplicate_share_and_the_auto_rule():
    rng = np.random.default_rng(7)
    assert duplicate_share(uniform_codes(rng, 1000, 64)) == 0.0
    assert duplicate_share(few_codes(rng, 1000, 64, 1)) == pytest.approx(0.999)
    assert duplicate_share(np.array([[1], [1], [2], [3]], np.uint8)) == 0.25
    assert duplicate_share(np.zeros((0, 8), np.uint8)) == 0.0
    with pytest.raises(ValueError, match="codes must be uint8"):
        duplicate_share(np.zeros((3, 8), np.int64))
    assert auto_kind(64, 10**6, DEDUP_MIN_SHARE) == "mih_dedup"
    assert auto_kind(64, 10**6, DEDUP_MIN_SHARE / 2) == "mih"
    assert auto_kind(64, 100, 0.9) == "flat_dedup" and auto_kind(64, None, None) == "flat"
    assert ni.make_index(64, codes=few_codes(rng, 1000, 64, 30)).kind == "flat_dedup"
    assert ni.make_index(64, codes=uniform_codes(rng, 1000, 64)).kind == "flat"
    assert ni.make_index(64, n_expected=10**6, codes=few_codes(rng, 1000, 64, 30)).kind == "mih_dedup"
    assert ni.make_index(64, kind="mih_dedup", m=2).kind == "mih_dedup"
    with pytest.raises(ValueError, match="codes"):
        ni.make_index(64, codes=np.zeros((3, 4), np.uint8))


def test_build_file_with_dedup_matches_flat(tmp_path):
    rng = np.random.default_rng(8)
    db = few_codes(rng, 3000, 64, 50)
    np.save(tmp_path / "c.npy", db)
    path = ni.build_mih_file(tmp_path / "c.npy", tmp_path / "d.nidx", dedup=True, chunk_codes=700, progress=False)
    index = ni.load(path, mmap=True)
    assert index.kind == "mih_dedup" and index.ntotal == 3000
    queries = np.concatenate([db[:4], uniform_codes(rng, 4, 64)])
    for k in (1, 10, 500):
        assert_knn_matches(index.search(queries, k), db, np.arange(3000), queries, k)


def crafted(tmp_path, tag, offset, value, kind="mih_dedup"):
    """A saved dedup index (group A: ids 1, 2, 3; group B: id 4) with one int64 of section ``tag`` replaced."""
    index = ni.make_index(64, kind=kind)
    index.add(np.array([[7] * 8, [7] * 8, [7] * 8, [9] * 8], np.uint8), [1, 2, 3, 4])
    image = FileImage(index._impl.serialize())
    struct.pack_into("<q", image.data, image.section(tag)["offset"] + offset, value)
    path = tmp_path / "crafted.nidx"
    path.write_bytes(bytes(image))
    return path


@pytest.mark.parametrize("tag,offset,value,message", [
    (32, 0, 7, "dedup metadata version"),       # meta: version
    (32, 8, 1, "does not match"),                # inner kind: flat in a mih_dedup file
    (32, 16, 3, "code block has 16 bytes"),      # groups: more than the distinct codes
    (32, 24, 1, "dead group count"),             # dead groups
    (33, 8, 5, "offsets"),                       # offsets[1] beyond the ids
    (33, 8, 0, "dead group count"),              # an empty group the metadata does not count
    (34, 0, -5, "negative"),                     # an id
    (34, 8, 1, "not ascending"),                 # group A: 1, 1, 3
    (34, 16, 99, "beyond the next default id"),
])
def test_crafted_dedup_files_are_refused(tmp_path, tag, offset, value, message):
    with pytest.raises(ValueError, match=message):
        ni.load(crafted(tmp_path, tag, offset, value), mmap=True, verify=False)


def test_a_crafted_lookup_table_cannot_make_answers_wrong(tmp_path):
    """Slots pointing at other groups, or at none, only miss: the k-NN walk answers instead."""
    for value in (0x0000000200000002, -1, 0):
        index = ni.load(crafted(tmp_path, 35, 0, value), mmap=True, verify=False)
        queries = np.array([[7] * 8, [9] * 8], np.uint8)
        result = index.search(queries, 2)
        assert result.ids.tolist() == [[1, 2], [4, 1]] and result.distances.tolist() == [[0, 0], [0, 24]]
        index.add(np.array([[7] * 8], np.uint8), [10])  # an add rebuilds the table from the codes
        assert index.search(queries[:1], 4).ids.tolist() == [[1, 2, 3, 10]]
