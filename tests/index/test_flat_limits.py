"""The flat scan's paths for issue 25 against the numpy oracle: the single-query scan split into
many database slices, the register-blocked batch kernels at every width (odd code sizes too), and
searches from many Python threads at once (each may run on its calling thread)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import nash_index as ni
from conftest import (
    assert_knn_matches,
    assert_range_matches,
    clustered_codes,
    oracle_knn,
    scrambled_ids,
    uniform_codes,
)

ORDER = ["scalar", "popcnt", "avx2", "avx512"]
LEVELS = ORDER[: ORDER.index(ni.detected_simd_level()) + 1]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("nbits", [64, 256, 768, 1000, 1024])
def test_single_query_split_into_slices(flat_rng, flat_restore_runtime, level, nbits):
    ni.set_simd_level(level)
    ni.set_num_threads(2)  # the split needs 2 pool threads, whatever the CPU count
    # 5 slices of 16384 codes (several per thread); clustered codes, scrambled ids: ties cross slices
    n = 5 * 16384 + 5
    db = clustered_codes(flat_rng, n, nbits, centres=5, p=0.05)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = np.concatenate([db[n // 2 : n // 2 + 1], clustered_codes(flat_rng, 2, nbits, centres=5, p=0.05)])
    for nq in (1, 3):  # < 2 x threads: database-parallel
        q = queries[:nq]
        for k in (1, 10, 300):
            assert_knn_matches(index.search(q, k), db, ids, q, k)
        assert_knn_matches(index.search(q, 10, num_threads=1), db, ids, q, 10)  # one thread: no split
    assert_range_matches(index.range_search(queries[:1], nbits // 10), db, ids, queries[:1], nbits // 10)


def _code_at_distance(rng: np.random.Generator, nbits: int, distance: int) -> np.ndarray:
    bits = np.zeros(nbits, dtype=np.uint8)
    bits[rng.choice(nbits, distance, replace=False)] = 1
    return np.packbits(bits, bitorder="little")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("scrambled", [False, True])
def test_split_threads_share_bounds_without_losing_ties(flat_rng, flat_restore_runtime, level, scrambled):
    """The slices' threads prune by each other's k-th distance: the nearest codes all in the last
    slice, ties at the k-th distance in every slice (the smallest ids must win whichever thread
    meets them first), the rest far."""
    ni.set_simd_level(level)
    ni.set_num_threads(2)
    nbits, n, slice_codes = 64, 8 * 16384, 16384
    db = np.stack([_code_at_distance(flat_rng, nbits, 20 + i % 5) for i in range(64)])[np.arange(n) % 64]
    for s in range(8):  # three ties at distance 3 in every slice
        for j in range(3):
            db[s * slice_codes + 1000 * (j + 1)] = _code_at_distance(flat_rng, nbits, 3)
    for j in range(5):  # the five nearest at the end
        db[n - 1 - 17 * j] = _code_at_distance(flat_rng, nbits, 2)
    ids = scrambled_ids(flat_rng, n) if scrambled else np.arange(n, dtype=np.int64)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    query = np.zeros((1, nbits // 8), dtype=np.uint8)
    for k in (1, 5, 6, 10, 29):
        assert_knn_matches(index.search(query, k), db, ids, query, k)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("nbits", [8, 16, 32, 40, 72, 120, 248, 264, 520, 768, 776, 1000, 1024, 1032, 2048])
def test_blocked_batch_every_width(flat_rng, flat_restore_runtime, level, nbits):
    ni.set_simd_level(level)
    n = 2 * 1003 + 1  # partial vectors and blocks
    db = clustered_codes(flat_rng, n, nbits, centres=3, p=0.1)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    for nq in (1, 2, 3, 4, 5, 7, 9, 64):  # every query-tile remainder, and query-parallel tasks
        queries = clustered_codes(flat_rng, nq, nbits, centres=3, p=0.1)
        assert_knn_matches(index.search(queries, 7), db, ids, queries, 7)


@pytest.mark.parametrize("nbits", [64, 256])
def test_concurrent_callers_match_oracle(flat_rng, flat_restore_runtime, nbits):
    ni.set_num_threads(2)
    n = 3 * 16384 + 11  # large enough to split when a caller runs alone
    db = clustered_codes(flat_rng, n, nbits, centres=4, p=0.05)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = clustered_codes(flat_rng, 64, nbits, centres=4, p=0.05)
    want_d, want_i = oracle_knn(db, ids, queries, 10)
    got: dict = {}
    errors: list = []

    def caller(c: int, callers: int) -> None:
        try:
            for q in range(c, len(queries), callers):
                threads = None if q % 3 else 1  # per-call num_threads honoured under load too
                got[q] = index.search(queries[q], 10, num_threads=threads)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    for callers in (1, 3, 8, 16):
        got.clear()
        threads = [threading.Thread(target=caller, args=(c, callers)) for c in range(callers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for q in range(len(queries)):
            np.testing.assert_array_equal(got[q].distances[0], want_d[q])
            np.testing.assert_array_equal(got[q].ids[0], want_i[q])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("nbits", [64, 128, 256, 512])
def test_ties_in_one_vector_step_keep_the_id_rule(flat_rng, flat_restore_runtime, level, nbits):
    # Sequential ids take the handler's in-order path (a tie at the boundary never wins), and the
    # 128-bit kernel's eight totals come out of its shuffles in another order than the codes':
    # duplicates of a few codes, eight to a step, must still give the smallest ids first.
    ni.set_simd_level(level)
    distinct = uniform_codes(flat_rng, 4, nbits)
    db = distinct[flat_rng.integers(0, 4, size=4 * 8 * 64 + 5)]
    ids = np.arange(len(db), dtype=np.int64)
    index = ni.FlatIndex(nbits)
    index.add(db)
    queries = np.concatenate([distinct, uniform_codes(flat_rng, 3, nbits)])
    for k in (1, 3, 9, 100):
        result = index.search(queries, k)
        assert_knn_matches(result, db, ids, queries, k)
        for q in range(4):
            same = np.flatnonzero((db == distinct[q]).all(axis=1))
            np.testing.assert_array_equal(result.ids[q, :k], same[:k])
