"""faiss interop: ni.from_faiss / ni.to_faiss / ni.read_faiss (#28 item 3).

Round trips in both directions keep codes and ids; searches agree with faiss's own search on the same
codes and with the numpy oracle. faiss breaks ties by storage position (checked here: its
IndexBinaryFlat answers equal ours exactly, ids being positions); through an IndexBinaryIDMap it
returns the ids at those positions, so with ids that do not grow with position the ids of a row are
compared as sets per distance (at the row's last distance, as members of the oracle's tied codes).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import nash_index as ni
from conftest import (
    KINDS,
    assert_knn_matches,
    assert_range_matches,
    clustered_codes,
    oracle_distances,
    scrambled_ids,
    uniform_codes,
)


@pytest.fixture
def faiss():
    return pytest.importorskip("faiss", reason="faiss is not installed (pip install 'nash_index[faiss]')")


def faiss_flat(faiss, codes):
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(codes)
    return index


def faiss_idmap(faiss, codes, ids, cls_name="IndexBinaryIDMap"):
    index = getattr(faiss, cls_name)(faiss.IndexBinaryFlat(codes.shape[1] * 8))
    index.add_with_ids(codes, ids)
    return index


def assert_same_as_faiss(ours, theirs, db, ids, queries, k, exact_ties=False):
    """Distances equal; ids equal (exact_ties) or equal as sets per distance, the last distance's
    ids drawn from the codes at that distance."""
    got = ours.search(queries, k)
    want_d, want_i = theirs.search(queries, k)
    np.testing.assert_array_equal(got.distances, want_d)
    if exact_ties:
        np.testing.assert_array_equal(got.ids, want_i)
        return
    all_d = oracle_distances(db, queries)
    for q in range(queries.shape[0]):
        row_d, last = got.distances[q], got.distances[q][-1]
        for d in np.unique(row_d):
            mine, theirs_ids = set(got.ids[q][row_d == d]), set(want_i[q][row_d == d])
            if d != last:
                assert mine == theirs_ids, (q, d)
            elif d != np.iinfo(np.int32).max:  # several codes may tie at the row's edge: any of them
                tied = set(ids[all_d[q] == d])
                assert mine <= tied and theirs_ids <= tied and len(mine) == len(theirs_ids), (q, d)


# ---- faiss -> nash_index ------------------------------------------------------------------
@pytest.mark.parametrize("nbits", [8, 64, 72, 256])
def test_from_faiss_flat_keeps_codes_and_answers_like_faiss(faiss, flat_rng, nbits):
    db = clustered_codes(flat_rng, 1500, nbits, centres=4, p=0.05)  # many ties
    theirs = faiss_flat(faiss, db)
    ours = ni.from_faiss(theirs)
    assert isinstance(ours, ni.FlatIndex) and ours.nbits == nbits and ours.ntotal == 1500
    np.testing.assert_array_equal(ours.codes(), db)
    np.testing.assert_array_equal(ours.ids(), np.arange(1500))
    queries = clustered_codes(flat_rng, 40, nbits, centres=4, p=0.05)
    for k in (1, 10, 100, 2000):  # 2000 > ntotal: both pad with (INT32_MAX, -1)
        assert_same_as_faiss(ours, theirs, db, np.arange(1500), queries, k, exact_ties=True)
        assert_knn_matches(ours.search(queries, k), db, np.arange(1500), queries, k)
    assert theirs.ntotal == 1500  # faiss's index is left as it was


@pytest.mark.parametrize("cls_name", ["IndexBinaryIDMap", "IndexBinaryIDMap2"])
def test_from_faiss_idmap_keeps_ids(faiss, flat_rng, cls_name):
    db = clustered_codes(flat_rng, 1200, 64, centres=3, p=0.05)
    ids = scrambled_ids(flat_rng, 1200)
    theirs = faiss_idmap(faiss, db, ids, cls_name)
    ours = ni.from_faiss(theirs)
    np.testing.assert_array_equal(ours.codes(), db)
    np.testing.assert_array_equal(ours.ids(), ids)
    queries = clustered_codes(flat_rng, 30, 64, centres=3, p=0.05)
    for k in (1, 10, 300):
        assert_same_as_faiss(ours, theirs, db, ids, queries, k)
        assert_knn_matches(ours.search(queries, k), db, ids, queries, k)
    assert_range_matches(ours.range_search(queries, 6), db, ids, queries, 6)


def test_increasing_ids_answer_exactly_like_faiss(faiss, flat_rng):
    db = clustered_codes(flat_rng, 800, 32, centres=2, p=0.05)
    ids = np.arange(800, dtype=np.int64) * 5 + 11  # positions and ids in the same order: same tie rule
    ours = ni.from_faiss(faiss_idmap(faiss, db, ids))
    assert_same_as_faiss(ours, faiss_idmap(faiss, db, ids), db, ids, db[:25], 50, exact_ties=True)


def test_range_search_is_faiss_radius_plus_one(faiss, flat_rng):
    """faiss's binary range search keeps distances < radius; ours <= radius."""
    db = clustered_codes(flat_rng, 600, 64, centres=3, p=0.08)
    theirs = faiss_flat(faiss, db)
    ours = ni.from_faiss(theirs)
    for radius in (0, 3, 9):
        got = ours.range_search(db[:10], radius)
        lims, dist, ids = theirs.range_search(db[:10], radius + 1)
        np.testing.assert_array_equal(got.lims, lims)
        for q in range(10):
            mine = sorted(zip(got.distances[got.lims[q]:got.lims[q + 1]], got.ids[got.lims[q]:got.lims[q + 1]]))
            theirs_hits = sorted(zip(dist[lims[q]:lims[q + 1]].astype(np.int64), ids[lims[q]:lims[q + 1]]))
            assert mine == theirs_hits


def test_from_faiss_copies_the_codes(faiss, flat_rng):
    db = uniform_codes(flat_rng, 100, 64)
    theirs = faiss_flat(faiss, db)
    ours = ni.from_faiss(theirs)
    theirs.reset()
    theirs.add(np.zeros((3, 8), dtype=np.uint8))
    np.testing.assert_array_equal(ours.codes(), db)


def test_empty_indexes_convert(faiss):
    assert ni.from_faiss(faiss.IndexBinaryFlat(128)).ntotal == 0
    assert ni.from_faiss(faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(16))).nbits == 16
    back = ni.to_faiss(ni.FlatIndex(64))
    assert type(back).__name__ == "IndexBinaryFlat" and back.ntotal == 0 and back.d == 64


def test_base_class_proxy_is_downcast(faiss, flat_rng):
    db = uniform_codes(flat_rng, 50, 64)
    wrapped = faiss_idmap(faiss, db, np.arange(50) + 7)  # its .index is typed IndexBinary by swig
    flat_proxy = wrapped.index
    assert type(flat_proxy).__name__ == "IndexBinary"
    np.testing.assert_array_equal(ni.from_faiss(flat_proxy).codes(), db)


def test_unsupported_types_are_named(faiss, flat_rng):
    db = uniform_codes(flat_rng, 300, 64)
    hnsw = faiss.IndexBinaryHNSW(64)
    hnsw.add(db)
    ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(64), 64, 4)
    ivf.train(db)
    for index, name in ((hnsw, "IndexBinaryHNSW"), (ivf, "IndexBinaryIVF"), (faiss.IndexBinaryHash(64, 8), "IndexBinaryHash")):
        with pytest.raises(TypeError, match=f"{name} is not supported.*IndexBinaryFlat"):
            ni.from_faiss(index)
    with pytest.raises(TypeError, match="IndexBinaryIDMap over IndexBinaryHNSW is not supported"):
        ni.from_faiss(faiss.IndexBinaryIDMap(faiss.IndexBinaryHNSW(64)))
    for not_binary in (faiss.IndexFlatL2(8), db, None):
        with pytest.raises(TypeError, match="faiss binary index"):
            ni.from_faiss(not_binary)


def test_ids_our_index_cannot_hold_are_refused(faiss, flat_rng):
    db = uniform_codes(flat_rng, 3, 64)
    with pytest.raises(ValueError, match="faiss index's ids"):
        ni.from_faiss(faiss_idmap(faiss, db, np.array([4, -2, 9])))
    with pytest.raises(ValueError, match="faiss index's ids"):
        ni.from_faiss(faiss_idmap(faiss, db, np.array([4, 4, 9])))


# ---- nash_index -> faiss ------------------------------------------------------------------
def test_to_faiss_flat_for_ids_zero_to_n(faiss, flat_rng):
    db = clustered_codes(flat_rng, 1000, 128, centres=3, p=0.05)
    ours = ni.FlatIndex(128)
    ours.add(db)
    theirs = ni.to_faiss(ours)
    assert type(theirs).__name__ == "IndexBinaryFlat" and theirs.d == 128 and theirs.ntotal == 1000
    np.testing.assert_array_equal(faiss.vector_to_array(theirs.xb).reshape(1000, 16), db)
    assert_same_as_faiss(ours, theirs, db, np.arange(1000), db[:30], 40, exact_ties=True)


def test_to_faiss_puts_permuted_ids_at_their_positions(faiss, flat_rng):
    db = uniform_codes(flat_rng, 500, 64)
    perm = flat_rng.permutation(500)
    ours = ni.FlatIndex(64)
    ours.add(db, perm)  # ids 0..n-1, not in storage order: still a plain IndexBinaryFlat
    theirs = ni.to_faiss(ours)
    assert type(theirs).__name__ == "IndexBinaryFlat"
    np.testing.assert_array_equal(faiss.vector_to_array(theirs.xb).reshape(500, 8)[perm], db)
    assert_same_as_faiss(ours, theirs, db, perm, db[:20], 25, exact_ties=True)


def test_to_faiss_idmap_for_other_ids(faiss, flat_rng):
    db = clustered_codes(flat_rng, 900, 64, centres=3, p=0.05)
    ids = scrambled_ids(flat_rng, 900)
    ours = ni.FlatIndex(64)
    ours.add(db, ids)
    theirs = ni.to_faiss(ours)
    assert type(theirs).__name__ == "IndexBinaryIDMap"
    np.testing.assert_array_equal(faiss.vector_to_array(theirs.id_map), ids)
    assert_same_as_faiss(ours, theirs, db, ids, db[:30], 60)


@pytest.mark.parametrize("kind", KINDS)
def test_to_faiss_takes_every_kind(faiss, flat_rng, kind):
    db = clustered_codes(flat_rng, 400, 64, centres=3, p=0.03)
    db[50:60] = db[0]  # repeats: the dedup kinds store them once, in another order
    ids = scrambled_ids(flat_rng, 400)
    ours = ni.make_index(64, kind=kind)
    ours.add(db, ids)
    theirs = ni.to_faiss(ours)
    assert_same_as_faiss(ours, theirs, db, ids, db[:20], 30)
    back = ni.from_faiss(theirs)
    order = np.argsort(back.ids())
    np.testing.assert_array_equal(back.ids()[order], np.sort(ids))
    np.testing.assert_array_equal(back.codes()[order], db[np.argsort(ids)])


def test_to_faiss_refuses_other_objects(faiss):
    with pytest.raises(TypeError, match="nash_index index"):
        ni.to_faiss(faiss.IndexBinaryFlat(64))


# ---- both ways, and files -----------------------------------------------------------------
def test_round_trips_keep_codes_and_ids(faiss, flat_rng):
    db = uniform_codes(flat_rng, 700, 96)
    ids = scrambled_ids(flat_rng, 700)
    ours = ni.FlatIndex(96)
    ours.add(db, ids)
    again = ni.from_faiss(ni.to_faiss(ours))
    np.testing.assert_array_equal(again.codes(), db)
    np.testing.assert_array_equal(again.ids(), ids)
    theirs = faiss_idmap(faiss, db, ids)
    back = ni.to_faiss(ni.from_faiss(theirs))
    np.testing.assert_array_equal(faiss.vector_to_array(back.id_map), ids)
    np.testing.assert_array_equal(faiss.vector_to_array(faiss.downcast_IndexBinary(back.index).xb).reshape(700, 12), db)


@pytest.mark.parametrize("with_ids", [False, True])
def test_read_faiss_reads_write_index_binary_files(faiss, flat_rng, tmp_path, with_ids):
    db = clustered_codes(flat_rng, 800, 64, centres=3, p=0.05)
    ids = scrambled_ids(flat_rng, 800) if with_ids else np.arange(800)
    theirs = faiss_idmap(faiss, db, ids) if with_ids else faiss_flat(faiss, db)
    faiss.write_index_binary(theirs, str(tmp_path / "codes.faiss"))
    ours = ni.read_faiss(tmp_path / "codes.faiss")
    np.testing.assert_array_equal(ours.codes(), db)
    np.testing.assert_array_equal(ours.ids(), ids)
    assert_same_as_faiss(ours, theirs, db, ids, db[:30], 20, exact_ties=not with_ids)
    # and ours written by faiss after to_faiss reads back the same
    faiss.write_index_binary(ni.to_faiss(ours), str(tmp_path / "back.faiss"))
    again = ni.read_faiss(str(tmp_path / "back.faiss"))
    np.testing.assert_array_equal(again.codes(), db)
    np.testing.assert_array_equal(again.ids(), ids)


def test_read_faiss_refuses_missing_and_foreign_files(faiss, tmp_path):
    with pytest.raises(FileNotFoundError, match="no faiss index file"):
        ni.read_faiss(tmp_path / "absent.faiss")
    (tmp_path / "junk.faiss").write_bytes(b"not a faiss index at all")
    with pytest.raises(ValueError, match="junk.faiss' is not a faiss binary index file"):
        ni.read_faiss(tmp_path / "junk.faiss")
    faiss.write_index(faiss.IndexFlatL2(8), str(tmp_path / "float.faiss"))  # a float index's file
    with pytest.raises(ValueError, match="float.faiss' is not a faiss binary index file"):
        ni.read_faiss(tmp_path / "float.faiss")
    hnsw = faiss.IndexBinaryHNSW(64)
    faiss.write_index_binary(hnsw, str(tmp_path / "hnsw.faiss"))
    with pytest.raises(TypeError, match="IndexBinaryHNSW is not supported"):
        ni.read_faiss(tmp_path / "hnsw.faiss")


def test_missing_faiss_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    for call in (lambda: ni.from_faiss(object()), lambda: ni.to_faiss(ni.FlatIndex(8)), lambda: ni.read_faiss("x.faiss")):
        with pytest.raises(ImportError, match=r"pip install 'nash_index\[faiss\]'"):
            call()
