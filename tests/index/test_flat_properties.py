"""Property tests (hypothesis): every registered kind (kinds.py) equals the numpy oracle on arbitrary inputs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nash_index as ni
from conftest import KINDS, assert_knn_matches, assert_range_matches, oracle_knn

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def databases(draw):
    nbits = draw(st.sampled_from([8, 16, 24, 64, 72, 128, 136, 256, 512, 1024]))
    n = draw(st.integers(0, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    distinct = draw(st.integers(1, 8))  # few distinct codes plus noise: lots of ties
    pool = rng.integers(0, 256, size=(distinct, nbits // 8), dtype=np.uint8)
    db = pool[rng.integers(0, distinct, size=n)]
    noisy = rng.random(n) < draw(st.floats(0, 1))
    db[noisy] = rng.integers(0, 256, size=(int(noisy.sum()), nbits // 8), dtype=np.uint8)
    if draw(st.booleans()):
        ids = rng.choice(10**9, size=n, replace=False).astype(np.int64)
    else:
        ids = np.arange(n, dtype=np.int64)
    nq = draw(st.integers(1, 12))
    queries = np.concatenate([db[: nq // 2], rng.integers(0, 256, size=(nq - min(nq // 2, n), nbits // 8), dtype=np.uint8)])
    return nbits, np.ascontiguousarray(db), ids, np.ascontiguousarray(queries)


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=databases(), k=st.integers(1, 400), threads=st.integers(1, 3))
def test_knn_equals_oracle(kind, data, k, threads):
    nbits, db, ids, queries = data
    index = ni.make_index(nbits, kind=kind)
    index.add(db, ids)
    assert_knn_matches(index.search(queries, k, num_threads=threads), db, ids, queries, k)


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=databases(), radius_frac=st.floats(0, 1))
def test_range_equals_oracle_and_contains_knn(kind, data, radius_frac):
    nbits, db, ids, queries = data
    radius = int(radius_frac * nbits)
    index = ni.make_index(nbits, kind=kind)
    index.add(db, ids)
    res = index.range_search(queries, radius)
    assert_range_matches(res, db, ids, queries, radius)
    d, i = oracle_knn(db, ids, queries, 5)
    for q in range(queries.shape[0]):
        found = set(res.ids[res.lims[q] : res.lims[q + 1]].tolist())
        assert {int(x) for x, dist in zip(i[q], d[q]) if dist <= radius} <= found


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=databases(), split=st.floats(0, 1), drop=st.floats(0, 0.6), seed=st.integers(0, 1000))
def test_add_in_pieces_then_remove(kind, data, split, drop, seed):
    nbits, db, ids, queries = data
    ids = ids + 1  # keep every id positive and unique
    cut = int(split * db.shape[0])
    index = ni.make_index(nbits, kind=kind)
    index.add(db[:cut], ids[:cut])
    index.add(db[cut:], ids[cut:])
    rng = np.random.default_rng(seed)
    gone = rng.random(db.shape[0]) < drop
    assert index.remove(ids[gone]) == int(gone.sum())
    assert_knn_matches(index.search(queries, 9), db[~gone], ids[~gone], queries, 9)
