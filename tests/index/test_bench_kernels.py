"""pytest-benchmark suite for the scan kernels at small N.

Runs as a plain (correctness-checked) test under the default --benchmark-disable;
`pytest tests/test_bench_kernels.py --benchmark-enable` times it. Speed targets
are checked by bench/bench_flat.py, never here.
"""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import oracle_distances, oracle_knn

ORDER = ["scalar", "popcnt", "avx2", "avx512"]
LEVELS = ORDER[: ORDER.index(ni.detected_simd_level()) + 1]
N = 20000


@pytest.fixture(scope="module")
def bench_data():
    rng = np.random.default_rng(7)
    out = {}
    for nbits in (32, 64, 128, 256):
        db = rng.integers(0, 256, size=(N, nbits // 8), dtype=np.uint8)
        index = ni.FlatIndex(nbits)
        index.add(db)
        out[nbits] = (index, db, rng.integers(0, 256, size=(100, nbits // 8), dtype=np.uint8))
    return out


def _check(result, db, queries, k):
    d_ref, _ = oracle_knn(db, np.arange(db.shape[0]), queries[:3], k)
    np.testing.assert_array_equal(result.distances[:3], d_ref)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("nbits", [32, 64, 128, 256])
@pytest.mark.parametrize("nq,k", [(1, 10), (100, 10), (100, 100)])
def test_bench_knn(benchmark, bench_data, flat_restore_runtime, level, nbits, nq, k):
    ni.set_simd_level(level)
    index, db, queries = bench_data[nbits]
    q = queries[:nq]
    benchmark.group = f"knn nbits={nbits} nq={nq} k={k}"
    result = benchmark(index.search, q, k)
    _check(result, db, q, k)


@pytest.mark.parametrize("nbits", [64, 128])
def test_bench_range(benchmark, bench_data, nbits):
    index, db, queries = bench_data[nbits]
    benchmark.group = f"range nbits={nbits}"
    result = benchmark(index.range_search, queries[:20], nbits // 4)
    assert result.lims.shape == (21,)
    assert result.lims[-1] == int((oracle_distances(db, queries[:20]) <= nbits // 4).sum())
