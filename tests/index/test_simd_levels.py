"""Every SIMD level this CPU supports gives the oracle's answers."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, scrambled_ids, uniform_codes

ORDER = ["scalar", "popcnt", "avx2", "avx512"]
AVAILABLE = ORDER[: ORDER.index(ni.detected_simd_level()) + 1]


@pytest.mark.parametrize("level", AVAILABLE)
@pytest.mark.parametrize("nbits", [8, 16, 24, 32, 40, 48, 56, 64, 72, 96, 104, 128, 160, 192, 256, 320, 512, 1024])
def test_level_matches_oracle(flat_rng, flat_restore_runtime, level, nbits):
    ni.set_simd_level(level)
    assert ni.simd_level() == level
    # n = 1003 leaves a partial vector; nq 1..7 and 15 hit every query-tile remainder
    n = 1003
    db = clustered_codes(flat_rng, n, nbits, centres=3, p=0.1)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(nbits)
    index.add(db, ids)
    for nq in (1, 2, 3, 4, 5, 6, 7, 15, 33):
        queries = clustered_codes(flat_rng, nq, nbits, centres=3, p=0.1)
        assert_knn_matches(index.search(queries, 11), db, ids, queries, 11)
    assert_range_matches(index.range_search(queries, nbits // 8), db, ids, queries, nbits // 8)


@pytest.mark.parametrize("level", AVAILABLE)
def test_level_database_parallel_path(flat_rng, flat_restore_runtime, level):
    ni.set_simd_level(level)
    ni.set_num_threads(2)  # the split needs 2 pool threads, whatever the CPU count
    n = 2 * 16384 + 77  # > 16384 codes per thread; 1 and 3 queries are < 2 x threads
    db = uniform_codes(flat_rng, n, 64)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(64)
    index.add(db, ids)
    assert_knn_matches(index.search(db[:1], 10, num_threads=2), db, ids, db[:1], 10)
    assert_knn_matches(index.search(db[:3], 10), db, ids, db[:3], 10)
    assert_range_matches(index.range_search(db[:3], 20), db, ids, db[:3], 20)


def test_set_simd_level_rejects_unknown_and_unsupported(flat_restore_runtime):
    with pytest.raises(ValueError):
        ni.set_simd_level("sse9")
    if ni.detected_simd_level() != "avx512":
        with pytest.raises(ValueError, match="not supported"):
            ni.set_simd_level("avx512")


_CHILD = textwrap.dedent(
    """
    import numpy as np, nash_index as ni
    rng = np.random.default_rng(3)
    db = rng.integers(0, 256, size=(500, 16), dtype=np.uint8)
    idx = ni.FlatIndex(128); idx.add(db)
    d, i = idx.search(db[:7], 5)
    x = np.unpackbits(db[:7, None, :] ^ db[None], axis=2).sum(axis=2)  # numpy 1.24: no bitwise_count
    ref = np.lexsort((np.broadcast_to(np.arange(500), x.shape), x), axis=1)[:, :5]
    assert (i == ref).all(), (i, ref)
    print(ni.simd_level())
    """
)


@pytest.mark.parametrize("level", AVAILABLE)
def test_env_var_forces_level(level):
    env = dict(os.environ, NASH_INDEX_SIMD=level)
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == level


def test_env_var_above_detected_is_clamped():
    env = dict(os.environ, NASH_INDEX_SIMD="avx512")
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ni.detected_simd_level()
