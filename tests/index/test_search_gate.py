"""The search gate (``ni.set_search_slots``): at most that many searches compute at once, the rest
wait their turn; answers stay exact under any setting, and a bad setting is refused by name."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, scrambled_ids
from nash_index.index import _core


@pytest.fixture
def restore_slots():
    before = ni.get_search_slots()
    yield
    ni.set_search_slots(before)


def test_the_gate_is_open_by_default():
    assert ni.get_search_slots() == 0


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("2", TypeError), (None, TypeError)])
def test_bad_slots_are_refused_by_name(restore_slots, bad, error):
    before = ni.get_search_slots()
    with pytest.raises(error, match="slots"):
        ni.set_search_slots(bad)
    assert ni.get_search_slots() == before


def _index(kind, rng, n=60000, nbits=64):
    db = clustered_codes(rng, n, nbits, centres=8, p=0.1)
    ids = scrambled_ids(rng, n)
    index = ni.FlatIndex(nbits) if kind == "flat" else ni.MultiIndexHashing(nbits)
    index.add(db, ids)
    return index, db, ids


@pytest.mark.parametrize("kind", ["flat", "mih"])
@pytest.mark.parametrize("slots", [1, 2, 0])
def test_many_callers_get_exact_answers_under_any_gate(restore_slots, flat_rng, kind, slots):
    index, db, ids = _index(kind, flat_rng)
    queries = [clustered_codes(flat_rng, nq, 64, centres=8, p=0.1) for nq in (1, 3, 1, 40)]
    ni.set_search_slots(slots)
    start = threading.Barrier(8)

    def call(i):
        start.wait()
        q = queries[i % len(queries)]
        return q, index.search(q, 10, num_threads=1 + i % 2), index.range_search(q, 12)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for q, knn, rng_result in pool.map(call, range(8)):
            assert_knn_matches(knn, db, ids, q, 10)
            assert_range_matches(rng_result, db, ids, q, 12)


def _same(a, b) -> bool:
    return np.array_equal(a.distances, b.distances) and np.array_equal(a.ids, b.ids)


def _queue_behind_a_long_search(index, flat_rng, pool):
    """With one slot: a long search (~0.3 s on one thread, sized on this machine) holds it, then
    five short ones are submitted behind it. Returns (long queries, its future, short queries, their
    futures)."""
    probe = clustered_codes(flat_rng, 64, 64, centres=8, p=0.1)
    started = time.perf_counter()
    index.search(probe, 5, num_threads=1)
    per_query = (time.perf_counter() - started) / len(probe)
    long_queries = clustered_codes(flat_rng, int(min(20000, max(256, 0.3 / per_query))), 64, centres=8, p=0.1)
    queries = clustered_codes(flat_rng, 4, 64, centres=8, p=0.1)
    ni.set_search_slots(1)
    first = pool.submit(index.search, long_queries, 5, num_threads=1)
    time.sleep(0.01)
    return long_queries, first, queries, [pool.submit(index.search, queries, 5) for _ in range(5)]


@pytest.mark.parametrize("open_while_queued", [False, True])
def test_one_slot_makes_callers_wait_in_turn(restore_slots, flat_rng, open_while_queued):
    index, db, ids = _index("flat", flat_rng, n=300000)
    waits = _core.search_gate_waits()
    with ThreadPoolExecutor(max_workers=6) as pool:
        long_queries, first, queries, short = _queue_behind_a_long_search(index, flat_rng, pool)
        if open_while_queued:
            deadline = time.monotonic() + 5
            while _core.search_gate_waits() == waits and time.monotonic() < deadline:
                time.sleep(0.001)  # until one is queued behind the long search
            ni.set_search_slots(0)  # the queued searches enter at once
        results = [future.result(timeout=60) for future in short]
        long_result = first.result(timeout=60)
    assert _core.search_gate_waits() - waits >= 1
    assert ni.get_search_slots() == (0 if open_while_queued else 1)
    ni.set_search_slots(0)
    assert_knn_matches(results[0], db, ids, queries, 5)
    assert all(_same(r, results[0]) for r in results[1:])
    assert _same(long_result, index.search(long_queries, 5))
