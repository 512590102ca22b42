"""The bit-sliced batch scan against the numpy oracle, at each vector level this CPU has (AVX2:
groups of 256 codes; AVX-512: 512, with vpternlog adders), from the batch size where the level
takes it (``_core.sliced_batch_from``): every width it takes (8-2040 bits) and the one it leaves
to the word kernels (2048), partial last groups, queries counted by either side (mostly ones or
mostly zeros), AVX-512's blocks of 64 codes, ties at the k-th distance under increasing and
scrambled ids (and the first group's selection of its k nearest), range search, and databases
larger than one transposed chunk (2 MiB of codes) or than the caches (16 MiB) and batches larger
than one pass (4096 queries)."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, oracle_knn, scrambled_ids
from nash_index.index import _core

CHUNK_BYTES = 2 << 20  # scan_search.cpp kSlicedChunkBytes
WAVE = 4096  # scan_search.cpp kSlicedWave: queries of one pass
LEVELS = ("scalar", "popcnt", "avx2", "avx512")


@pytest.fixture(params=["avx2", "avx512"])
def level(request, flat_restore_runtime):
    """Runs the test at each vector level with a sliced scan (skipped where the CPU lacks it)."""
    if LEVELS.index(request.param) > LEVELS.index(ni.detected_simd_level()):
        pytest.skip(f"no {request.param} on this CPU")
    ni.set_simd_level(request.param)
    return request.param


def _sliced(nbits: int) -> int:
    """The least batch that takes the sliced scan at the level in use (it must have one)."""
    least = _core.sliced_batch_from(nbits)
    assert least > 0, f"no sliced scan for {nbits} bits at {ni.simd_level()}"
    return least


def _queries(rng: np.random.Generator, nq: int, nbits: int, db: np.ndarray) -> np.ndarray:
    """Members of the database's clusters (ties), plus the all-zero and all-one codes (weight 0 and
    nbits: the two sides of the count) and a code that is in the database."""
    queries = clustered_codes(rng, nq, nbits, centres=3, p=0.1)
    queries[0] = 0
    queries[1] = 255
    queries[2] = db[len(db) // 2]
    return queries


@pytest.mark.parametrize("nbits", [8, 16, 40, 64, 120, 128, 248, 256, 264, 512, 1000, 1024, 2040, 2048])
def test_sliced_batch_every_width(flat_rng, level, nbits):
    n = 3 * 256 + 37  # a partial last group of either size
    db = clustered_codes(flat_rng, n, nbits, centres=3, p=0.1)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    least = _core.sliced_batch_from(nbits) or 40  # 2048 bits: the word kernels, same checks
    for nq in (least, least + 72):  # + 72: a last task of 8 queries
        queries = _queries(flat_rng, nq, nbits, db)
        for k in (1, 10, 300):
            assert_knn_matches(index.search(queries, k), db, ids, queries, k)
    queries = _queries(flat_rng, least, nbits, db)
    radius = max(1, nbits // 5)
    assert_range_matches(index.range_search(queries, radius), db, ids, queries, radius)


@pytest.mark.parametrize("nbits", [64, 192, 1024])
@pytest.mark.parametrize("n", [512 + 1, 512 + 64 + 9, 2 * 512])
def test_sliced_blocks_of_64_codes(flat_rng, level, nbits, n):
    """AVX-512 transposes 64 codes of whole 8-byte words at a time (192 bits: a gather stride that
    is no power of two): groups that end one code into a block, a few codes into a register, or
    exactly on a group."""
    db = flat_rng.integers(0, 256, size=(n, nbits // 8), dtype=np.uint8)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = _queries(flat_rng, _sliced(nbits), nbits, db)
    assert_knn_matches(index.search(queries, 5), db, ids, queries, 5)


@pytest.mark.parametrize("nbits", [64, 256])
def test_sliced_ties_keep_the_id_rule(flat_rng, level, nbits):
    """Duplicates of four codes in every group: the smallest ids win, group after group."""
    distinct = clustered_codes(flat_rng, 4, nbits, centres=1, p=0.2)
    db = distinct[flat_rng.integers(0, 4, size=5 * 256 + 3)]
    index = ni.FlatIndex(nbits)
    index.add(db)
    ids = np.arange(len(db), dtype=np.int64)
    each = -(-_sliced(nbits) // 4)
    queries = np.concatenate([np.repeat(distinct, each, axis=0), clustered_codes(flat_rng, 16, nbits, 1, 0.3)])
    for k in (1, 7, 400):
        result = index.search(queries, k)
        assert_knn_matches(result, db, ids, queries, k)
        for q in range(0, 4 * each, each):
            same = np.flatnonzero((db == queries[q]).all(axis=1))
            np.testing.assert_array_equal(result.ids[q, : min(k, len(same))], same[:k])


def test_sliced_batch_over_codes_beyond_the_caches(flat_rng, level):
    """Over 16 MiB of codes the sliced scan starts from fewer queries (the word kernels wait on
    memory there); such a batch, 8 chunks and a partial one, against the oracle."""
    nbits = 64
    n = (16 << 20) // 8 + 300
    assert _core.sliced_batch_from(nbits, n * 8) <= _core.sliced_batch_from(nbits)
    db = clustered_codes(flat_rng, n, nbits, centres=8, p=0.05)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = _queries(flat_rng, _core.sliced_batch_from(nbits, n * 8), nbits, db)
    queries[5] = db[-7]  # its nearest code in the partial chunk
    got = index.search(queries, 10)
    for q0 in (0, len(queries) - 8):  # the oracle for some, 8 at a time (memory, time)
        want_d, want_i = oracle_knn(db, ids, queries[q0 : q0 + 8], 10)
        np.testing.assert_array_equal(got.distances[q0 : q0 + 8], want_d)
        np.testing.assert_array_equal(got.ids[q0 : q0 + 8], want_i)


@pytest.mark.parametrize("nbits", [64, 1024])
def test_sliced_batch_across_chunks(flat_rng, level, nbits):
    ni.set_num_threads(2)
    n = CHUNK_BYTES // (nbits // 8) + 300  # two chunks, the second partial
    db = clustered_codes(flat_rng, n, nbits, centres=8, p=0.05)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = _queries(flat_rng, _sliced(nbits), nbits, db)
    queries[3] = db[-1]  # its nearest code in the last chunk
    got = index.search(queries, 10)
    for q0 in (*range(0, 64, 8), len(queries) - 8):  # the oracle for some, 8 at a time (memory, time)
        want_d, want_i = oracle_knn(db, ids, queries[q0 : q0 + 8], 10)
        np.testing.assert_array_equal(got.distances[q0 : q0 + 8], want_d)
        np.testing.assert_array_equal(got.ids[q0 : q0 + 8], want_i)


def test_sliced_batch_in_waves(flat_rng, level):
    nbits, n = 64, 2 * 256 + 9
    db = clustered_codes(flat_rng, n, nbits, centres=4, p=0.1)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    queries = _queries(flat_rng, WAVE + 100, nbits, db)
    assert_knn_matches(index.search(queries, 5), db, ids, queries, 5)
    assert_range_matches(index.range_search(queries, 12), db, ids, queries, 12)
