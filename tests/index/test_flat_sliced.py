"""The bit-sliced batch scan (batches of >= 32 queries, >= 128 over 512 bits, at the AVX2 level)
against the numpy oracle: every width it takes (8-2040 bits) and the one it leaves to the word kernels (2048), partial last
groups of 256 codes, queries counted by either side (mostly ones or mostly zeros), ties at the
k-th distance under increasing and scrambled ids, range search, and databases larger than one
transposed chunk (2 MiB of codes) and batches larger than one pass (4096 queries)."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, oracle_knn, scrambled_ids

SLICED_QUERIES = 128  # scan_search.cpp kMinSlicedQueriesWide (32 up to 512 bits)
CHUNK_BYTES = 2 << 20  # scan_search.cpp kSlicedChunkBytes
WAVE = 4096  # scan_search.cpp kSlicedWave: queries of one pass


def _queries(rng: np.random.Generator, nq: int, nbits: int, db: np.ndarray) -> np.ndarray:
    """Members of the database's clusters (ties), plus the all-zero and all-one codes (weight 0 and
    nbits: the two sides of the count) and a code that is in the database."""
    queries = clustered_codes(rng, nq, nbits, centres=3, p=0.1)
    queries[0] = 0
    queries[1] = 255
    queries[2] = db[len(db) // 2]
    return queries


@pytest.mark.parametrize("nbits", [8, 16, 40, 64, 120, 128, 248, 256, 264, 512, 1000, 1024, 2040, 2048])
def test_sliced_batch_every_width(flat_rng, nbits):
    n = 3 * 256 + 37  # a partial last group
    db = clustered_codes(flat_rng, n, nbits, centres=3, p=0.1)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    for nq in (40, SLICED_QUERIES, 200):  # 40: sliced up to 512 bits; 200: a last task of 8 queries
        queries = _queries(flat_rng, nq, nbits, db)
        for k in (1, 10, 300):
            assert_knn_matches(index.search(queries, k), db, ids, queries, k)
    queries = _queries(flat_rng, SLICED_QUERIES, nbits, db)
    radius = max(1, nbits // 5)
    assert_range_matches(index.range_search(queries, radius), db, ids, queries, radius)


@pytest.mark.parametrize("nbits", [64, 256])
def test_sliced_ties_keep_the_id_rule(flat_rng, nbits):
    """Duplicates of four codes in every group: the smallest ids win, group after group."""
    distinct = clustered_codes(flat_rng, 4, nbits, centres=1, p=0.2)
    db = distinct[flat_rng.integers(0, 4, size=5 * 256 + 3)]
    index = ni.FlatIndex(nbits)
    index.add(db)
    ids = np.arange(len(db), dtype=np.int64)
    queries = np.concatenate([np.repeat(distinct, 32, axis=0), clustered_codes(flat_rng, 16, nbits, 1, 0.3)])
    for k in (1, 7, 400):
        result = index.search(queries, k)
        assert_knn_matches(result, db, ids, queries, k)
        for q in range(0, 128, 32):
            same = np.flatnonzero((db == queries[q]).all(axis=1))
            np.testing.assert_array_equal(result.ids[q, : min(k, len(same))], same[:k])


@pytest.mark.parametrize("nbits", [64, 1024])
def test_sliced_batch_across_chunks(flat_rng, flat_restore_runtime, nbits):
    ni.set_num_threads(2)
    n = CHUNK_BYTES // (nbits // 8) + 300  # two chunks, the second partial
    db = clustered_codes(flat_rng, n, nbits, centres=8, p=0.05)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = _queries(flat_rng, SLICED_QUERIES, nbits, db)
    queries[3] = db[-1]  # its nearest code in the last chunk
    got = index.search(queries, 10)
    for q0 in range(0, len(queries), 8):  # the oracle a few queries at a time (memory)
        want_d, want_i = oracle_knn(db, ids, queries[q0 : q0 + 8], 10)
        np.testing.assert_array_equal(got.distances[q0 : q0 + 8], want_d)
        np.testing.assert_array_equal(got.ids[q0 : q0 + 8], want_i)


def test_sliced_batch_in_waves(flat_rng):
    nbits, n = 64, 2 * 256 + 9
    db = clustered_codes(flat_rng, n, nbits, centres=4, p=0.1)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = _queries(flat_rng, WAVE + 100, nbits, db)
    assert_knn_matches(index.search(queries, 5), db, ids, queries, 5)
    assert_range_matches(index.range_search(queries, 12), db, ids, queries, 12)
