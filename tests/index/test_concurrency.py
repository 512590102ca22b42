"""Several Python threads on one index (FlatIndex and MultiIndexHashing): identical answers, and
mutations are safe."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nash_index as ni
from conftest import (
    assert_knn_matches,
    assert_range_matches,
    clustered_codes,
    oracle_knn,
    oracle_range,
    scrambled_ids,
    uniform_codes,
)
from nash_index.index import synthetic


def test_concurrent_searches_identical(flat_rng):
    n = 40000  # large enough for the database-parallel path with few queries
    db = clustered_codes(flat_rng, n, 128, centres=6, p=0.08)
    ids = scrambled_ids(flat_rng, n)
    index = ni.FlatIndex(128)
    index.add(db, ids)
    batches = [clustered_codes(flat_rng, nq, 128, centres=6, p=0.08) for nq in (1, 2, 50, 1, 7, 200)]
    expected = [index.search(b, 20) for b in batches]
    expected_range = [index.range_search(b, 20) for b in batches]

    def work(i):
        j = i % len(batches)
        res = index.search(batches[j], 20, num_threads=1 + i % 3)
        rr = index.range_search(batches[j], 20)
        return j, res, rr

    with ThreadPoolExecutor(max_workers=6) as pool:
        for j, res, rr in pool.map(work, range(36)):
            np.testing.assert_array_equal(res.ids, expected[j].ids)
            np.testing.assert_array_equal(res.distances, expected[j].distances)
            np.testing.assert_array_equal(rr.ids, expected_range[j].ids)
    assert_knn_matches(expected[0], db, ids, batches[0], 20)


def test_add_and_remove_during_searches(flat_rng):
    nbits = 64
    base = uniform_codes(flat_rng, 30000, nbits)
    index = ni.FlatIndex(nbits)
    index.add(base)
    queries = base[:4]
    stop = threading.Event()
    errors = []

    def searcher():
        try:
            while not stop.is_set():
                res = index.search(queries, 5)
                # the base codes are never removed, so each query finds itself at distance 0
                assert (res.distances[:, 0] == 0).all()
                assert (res.ids[:, 0] == np.arange(4)).all()
        except Exception as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    added = []
    for step in range(20):
        extra = uniform_codes(flat_rng, 500, nbits)
        extra_ids = np.arange(10**6 + step * 500, 10**6 + (step + 1) * 500)
        index.add(extra, extra_ids)
        added.append((extra, extra_ids))
        if step % 4 == 3:
            gone = added.pop(0)
            index.remove(gone[1])
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    db = np.concatenate([base] + [a[0] for a in added])
    ids = np.concatenate([np.arange(30000)] + [a[1] for a in added])
    assert index.ntotal == db.shape[0]
    assert_knn_matches(index.search(db[-3:], 4), db, ids, db[-3:], 4)


def test_set_num_threads_while_searching(flat_rng, flat_restore_runtime):
    db = uniform_codes(flat_rng, 40000, 64)
    index = ni.FlatIndex(64)
    index.add(db)
    expected = index.search(db[:3], 8)
    stop = threading.Event()
    errors = []

    def searcher():
        try:
            while not stop.is_set():
                np.testing.assert_array_equal(index.search(db[:3], 8).ids, expected.ids)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=searcher)
    t.start()
    for n in (1, 3, 2, 4, 1, 2):
        ni.set_num_threads(n)
    stop.set()
    t.join()
    assert not errors, errors[0]


@pytest.mark.parametrize("fallback", ["never", "auto"])
def test_concurrent_mih_searches_match_oracle(flat_rng, fallback):
    """MultiIndexHashing keeps per-query scratch (visited bitmaps, candidate lists) in a shared pool
    and counts work with atomics: many Python threads searching one index at once (k-NN and range,
    single queries and batches, with and without the internal pool) must each get the numpy
    brute-force answer."""
    nbits, n = 64, 20000
    centres = synthetic.random_centres(12, nbits, flat_rng)
    db = clustered_codes(flat_rng, n, nbits, centres=centres, p=0.06)
    ids = scrambled_ids(flat_rng, n)
    mih = ni.MultiIndexHashing(nbits)
    mih.add(db, ids)
    mih.set_fallback(fallback)  # "never": every query walks the tables and uses the scratch pool
    # single queries (1-D and one row) and batches (the >= 32 batch path samples and may scan)
    singles = [clustered_codes(flat_rng, 1, nbits, centres=centres, p=0.06) for _ in range(4)]
    batches = [clustered_codes(flat_rng, nq, nbits, centres=centres, p=0.06) for nq in (3, 40)]
    cases = []
    for q in singles + batches:
        for k in (1, 10, 64):
            cases.append(("knn", q, k, oracle_knn(db, ids, q, k)))
        for radius in (3, 9):
            cases.append(("range", q, radius, oracle_range(db, ids, q, radius)))
    start = threading.Barrier(8)

    def work(i):
        if i < 8:
            start.wait()  # the first round really starts together
        kind, q, arg, expected = cases[i % len(cases)]
        query = q[0] if (q.shape[0] == 1 and i % 2) else q  # 1-D single query on odd tasks
        threads = None if i % 3 == 0 else 1
        if kind == "knn":
            res = mih.search(query, arg, num_threads=threads)
            return kind, (res.distances, res.ids), expected
        res = mih.range_search(query, arg, num_threads=threads)
        return kind, (res.lims, res.distances, res.ids), expected

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(work, range(4 * len(cases))))
    assert len(answers) == 4 * len(cases)
    for kind, got, expected in answers:
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
    # the index is intact afterwards, and "never" really walked the tables
    q = batches[1]
    _, work = mih.search_with_work(q, 10)
    assert fallback != "never" or not work.scanned.any()
    assert_knn_matches(mih.search(q, 10), db, ids, q, 10)
    assert_range_matches(mih.range_search(q, 9), db, ids, q, 9)
