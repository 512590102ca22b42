"""Several Python threads on one index: identical answers, and mutations are safe."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import nash_index as ni
from conftest import assert_knn_matches, clustered_codes, scrambled_ids, uniform_codes


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
