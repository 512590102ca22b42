"""k-NN and range search against the numpy oracle (tests/conftest.py): FlatIndex's scan paths, and
the oracle tests run for every registered kind (kinds.py), so that a new kind meets them all."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import (
    KINDS,
    PAD_DISTANCE,
    assert_knn_matches,
    assert_range_matches,
    clustered_codes,
    oracle_knn,
    scrambled_ids,
    uniform_codes,
)

NBITS = [8, 24, 64, 72, 128, 256, 1024]
SIZES = [0, 1, 7, 1003]


def build(db, ids=None, nbits=None, kind="flat"):
    index = ni.make_index(nbits or db.shape[1] * 8, kind=kind)
    index.add(db, ids)
    return index


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.mark.parametrize("nbits", NBITS)
@pytest.mark.parametrize("n", SIZES)
def test_knn_uniform_matches_oracle(flat_rng, nbits, n, kind):
    db = uniform_codes(flat_rng, n, nbits)
    queries = uniform_codes(flat_rng, 37, nbits)
    ids = np.arange(n, dtype=np.int64)
    index = build(db, nbits=nbits, kind=kind)
    for k in (1, 5, n + 3):  # k > n pads
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)


@pytest.mark.parametrize("nbits", NBITS)
def test_knn_clustered_ties_with_scrambled_ids(flat_rng, nbits, kind):
    n = 1500
    db = clustered_codes(flat_rng, n, nbits, centres=3, p=0.02)
    ids = scrambled_ids(flat_rng, n)
    queries = np.concatenate([db[:20], clustered_codes(flat_rng, 20, nbits, centres=3, p=0.02)])
    index = build(db, ids, kind=kind)
    for k in (1, 10, 100):
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)


@pytest.mark.parametrize("nbits", [8, 64, 128])
def test_heavy_duplicates_tie_broken_by_id(flat_rng, nbits, kind):
    # 10 distinct codes repeated 300 times each: every answer is decided by the id rule.
    distinct = uniform_codes(flat_rng, 10, nbits)
    db = distinct[flat_rng.integers(0, 10, size=3000)]
    ids = scrambled_ids(flat_rng, 3000)
    queries = distinct[:4]
    index = build(db, ids, kind=kind)
    for k in (1, 17, 299, 301, 1000):
        result = index.search(queries, k)
        assert_knn_matches(result, db, ids, queries, k)
        # the k best of a duplicate group are its k smallest ids
        same = ids[(db == queries[0]).all(axis=1)]
        np.testing.assert_array_equal(result.ids[0, : min(k, same.size)], np.sort(same)[:k])


def test_single_query_1d_and_large_batch(flat_rng, kind):
    db = uniform_codes(flat_rng, 2000, 64)
    ids = np.arange(2000, dtype=np.int64)
    index = build(db, kind=kind)
    one = index.search(db[5], 4)  # 1-D query is one query
    assert one.distances.shape == (1, 4)
    assert one.ids[0, 0] == 5 and one.distances[0, 0] == 0
    assert_knn_matches(one, db, ids, db[5:6], 4)
    queries = uniform_codes(flat_rng, 700, 64)
    assert_knn_matches(index.search(queries, 10), db, ids, queries, 10)


def test_padding_when_k_exceeds_ntotal(flat_rng, kind):
    db = uniform_codes(flat_rng, 3, 64)
    result = build(db, kind=kind).search(db, 6)
    assert (result.ids[:, 3:] == -1).all()
    assert (result.distances[:, 3:] == PAD_DISTANCE).all()
    assert (result.ids[:, :3] >= 0).all()
    empty = ni.make_index(64, kind=kind).search(db, 2)
    assert (empty.ids == -1).all() and (empty.distances == PAD_DISTANCE).all()


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("nq", [1, 3, 64])
def test_thread_counts_and_both_parallel_paths(flat_rng, flat_restore_runtime, threads, nq):
    # The pool is resized to `threads` (a search never uses more threads than the pool has), and
    # n >= 2 * 16384 so that nq < 2 * threads queries take the database-parallel path.
    ni.set_num_threads(threads)
    n = 2 * 16384 + 1234
    db = clustered_codes(flat_rng, n, 64, centres=8, p=0.1)
    ids = scrambled_ids(flat_rng, n)
    queries = clustered_codes(flat_rng, nq, 64, centres=8, p=0.1)
    index = build(db, ids)
    for k in (1, 10, 100):
        assert_knn_matches(index.search(queries, k, num_threads=threads), db, ids, queries, k)
    assert_range_matches(index.range_search(queries, 12, num_threads=threads), db, ids, queries, 12)


# The scan splits the database when nq < 2 * threads and there are >= 16384 codes per part
# (cpp/src/scan_search.cpp: database_parts); `threads` is min(num_threads, pool size).
SPLIT_MIN_CODES_PER_THREAD = 16384


@pytest.mark.parametrize("pool", [2, 4])
@pytest.mark.parametrize("nq", [1, 3])
def test_database_split_path_is_forced(flat_rng, flat_restore_runtime, pool, nq):
    """Whatever the machine's CPU count: a pool of `pool` threads, a database above the split
    threshold for every thread and fewer than 2 * pool queries take the database-split path
    (k-NN: per-part top-k then merge; range: per-part hits then merge), checked by the oracle."""
    ni.set_num_threads(pool)
    assert ni.get_num_threads() == pool
    n = pool * SPLIT_MIN_CODES_PER_THREAD + 77  # every part gets > 16384 codes
    assert nq < 2 * pool
    db = clustered_codes(flat_rng, n, 64, centres=5, p=0.08)
    ids = scrambled_ids(flat_rng, n)
    queries = np.concatenate([db[n - nq + 1:], clustered_codes(flat_rng, 1, 64, centres=5, p=0.08)])
    index = build(db, ids)
    for k in (1, 10, 257):  # k = 257: a part's top-k spans several distances
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)
        assert_knn_matches(index.search(queries, k, num_threads=pool), db, ids, queries, k)
    assert_range_matches(index.range_search(queries, 10), db, ids, queries, 10)


def test_set_num_threads_gives_same_answers(flat_rng, flat_restore_runtime):
    n = 3 * 16384
    db = uniform_codes(flat_rng, n, 128)
    ids = scrambled_ids(flat_rng, n)
    queries = uniform_codes(flat_rng, 2, 128)
    index = build(db, ids)
    answers = []
    for t in (1, 2, 3, 5):
        ni.set_num_threads(t)
        assert ni.get_num_threads() == t
        answers.append(index.search(queries, 25))
        assert_knn_matches(answers[-1], db, ids, queries, 25)


@pytest.mark.parametrize("nbits", [8, 64, 72, 128, 256])
def test_range_search_matches_oracle_and_knn(flat_rng, nbits, kind):
    n = 1200
    db = clustered_codes(flat_rng, n, nbits, centres=5, p=0.05)
    ids = scrambled_ids(flat_rng, n)
    queries = clustered_codes(flat_rng, 15, nbits, centres=5, p=0.05)
    index = build(db, ids, kind=kind)
    for radius in (0, 1, nbits // 16, nbits // 4, nbits, nbits + 50):
        result = index.range_search(queries, radius)
        assert result.lims.dtype == np.int64 and result.distances.dtype == np.int32
        assert_range_matches(result, db, ids, queries, radius)
    # consistent with k-NN: the k nearest within the radius are the range result's prefix
    radius = nbits // 8
    knn = index.search(queries, 50)
    rng_res = index.range_search(queries, radius)
    for q in range(queries.shape[0]):
        lo, hi = rng_res.lims[q], rng_res.lims[q + 1]
        inside = knn.distances[q] <= radius
        m = int(inside.sum())
        np.testing.assert_array_equal(knn.ids[q][inside], rng_res.ids[lo : lo + m])
        if m == 50:
            assert hi - lo >= 50
        else:
            assert hi - lo == m


def test_range_search_empty_index_and_1d_query(flat_rng, kind):
    index = ni.make_index(64, kind=kind)
    q = uniform_codes(flat_rng, 3, 64)
    res = index.range_search(q, 10)
    np.testing.assert_array_equal(res.lims, [0, 0, 0, 0])
    db = uniform_codes(flat_rng, 50, 64)
    index.add(db)
    res = index.range_search(db[0], 0)
    assert res.lims.tolist() == [0, 1] and res.ids.tolist() == [0]


def test_incremental_add_equals_single_add(flat_rng, kind):
    db = clustered_codes(flat_rng, 900, 128, centres=4, p=0.05)
    ids = scrambled_ids(flat_rng, 900)
    queries = db[::50]
    inc = ni.make_index(128, kind=kind)
    for lo in range(0, 900, 250):
        inc.add(db[lo : lo + 250], ids[lo : lo + 250])
    assert len(inc) == inc.ntotal == 900
    np.testing.assert_array_equal(inc.ids(), ids)
    np.testing.assert_array_equal(inc.codes(), db)
    assert_knn_matches(inc.search(queries, 30), db, ids, queries, 30)


def test_default_ids_continue_after_largest(flat_rng, kind):
    db = uniform_codes(flat_rng, 30, 64)
    index = ni.make_index(64, kind=kind)
    index.add(db[:10])
    index.add(db[10:20], np.arange(100, 110))
    index.add(db[20:])
    expected = np.concatenate([np.arange(10), np.arange(100, 110), np.arange(110, 120)])
    np.testing.assert_array_equal(index.ids(), expected)
    assert_knn_matches(index.search(db, 5), db, expected, db, 5)


def test_remove_and_reset(flat_rng, kind):
    n = 2000
    db = clustered_codes(flat_rng, n, 64, centres=3, p=0.05)
    ids = scrambled_ids(flat_rng, n)
    index = build(db, ids, kind=kind)
    doomed = np.concatenate([ids[::3], [10**12]])  # an unknown id is ignored
    assert index.remove(doomed) == len(ids[::3])
    keep = np.ones(n, dtype=bool)
    keep[::3] = False
    queries = db[:20]
    assert_knn_matches(index.search(queries, 40), db[keep], ids[keep], queries, 40)
    assert_range_matches(index.range_search(queries, 5), db[keep], ids[keep], queries, 5)
    assert index.remove(ids[::3]) == 0
    # a removed id can be added again
    index.add(db[:1], ids[:1])
    db2, ids2 = np.concatenate([db[keep], db[:1]]), np.concatenate([ids[keep], ids[:1]])
    assert_knn_matches(index.search(queries, 40), db2, ids2, queries, 40)
    index.reset()
    assert len(index) == 0
    assert (index.search(queries, 2).ids == -1).all()
    index.add(db[:5])
    np.testing.assert_array_equal(index.ids(), np.arange(5))


def test_properties_and_repr():
    index = ni.FlatIndex(128)
    assert index.nbits == 128 and index.code_size == 16 and index.ntotal == 0
    assert "FlatIndex" in repr(index) and "nbits=128" in repr(index) and "ntotal=0" in repr(index)
    codes = index.codes()
    assert codes.shape == (0, 16)


def test_codes_copy_survives_growth_and_index_owns_its_copy(flat_rng):
    db = uniform_codes(flat_rng, 10, 64)
    index = build(db)
    snapshot = index.codes()
    snapshot[0, 0] ^= 1  # a copy: writing it leaves the index alone
    index.add(uniform_codes(flat_rng, 100_000, 64))  # grows (reallocates) the store
    np.testing.assert_array_equal(snapshot[1:], db[1:])
    np.testing.assert_array_equal(index.codes()[:10], db)
    original = db.copy()
    db[:] = 0  # the caller's buffer changes; the index does not
    np.testing.assert_array_equal(index.codes()[:10], original)


def test_results_deterministic_across_calls(flat_rng, kind):
    db = clustered_codes(flat_rng, 40000, 64, centres=2, p=0.03)
    ids = scrambled_ids(flat_rng, 40000)
    index = build(db, ids, kind=kind)
    q = db[:2]
    first = index.search(q, 200)
    for _ in range(3):
        again = index.search(q, 200)
        np.testing.assert_array_equal(again.ids, first.ids)
    d_ref, i_ref = oracle_knn(db, ids, q, 200)
    np.testing.assert_array_equal(first.ids, i_ref)
