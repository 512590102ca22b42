"""MultiIndexHashing benchmark at small N.

The pytest-benchmark tests run once as correctness checks under the default
--benchmark-disable (`--benchmark-enable` times them). Speed targets are checked by
bench/bench_mih.py (its own tests: tests/bench/test_bench_mih_script.py), never here.
"""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import clustered_codes, oracle_knn
from nash_index.index import synthetic

N = 20000


@pytest.fixture(scope="module")
def mih_data():
    rng = np.random.default_rng(17)
    out = {}
    for nbits in (64, 128):
        centres = synthetic.random_centres(50, nbits, rng)
        db = clustered_codes(rng, N, nbits, centres=centres, p=1 / 8)
        queries = clustered_codes(rng, 100, nbits, centres=centres, p=1 / 8)
        flat, mih = ni.FlatIndex(nbits), ni.MultiIndexHashing(nbits)
        flat.add(db)
        mih.add(db)
        out[nbits] = (flat, mih, queries, db)
    return out


@pytest.mark.parametrize("nbits", [64, 128])
@pytest.mark.parametrize("nq", [1, 100])
def test_bench_mih_knn(benchmark, mih_data, nbits, nq):
    flat, mih, queries, db = mih_data[nbits]
    q = queries[:nq]
    benchmark.group = f"mih knn nbits={nbits} nq={nq} k=10"
    result = benchmark(mih.search, q, 10)
    expected = flat.search(q, 10)
    np.testing.assert_array_equal(result.distances, expected.distances)
    np.testing.assert_array_equal(result.ids, expected.ids)
    d_ref, i_ref = oracle_knn(db, np.arange(N), q[:5], 10)  # a few rows against the numpy oracle
    np.testing.assert_array_equal(result.distances[:5], d_ref)
    np.testing.assert_array_equal(result.ids[:5], i_ref)
