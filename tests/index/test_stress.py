"""Concurrency stress: several Python threads search one index (FlatIndex, MultiIndexHashing) while
another thread adds, removes, saves, pickles and resizes the thread pool (and one more resizes it
too), for a bounded time.

Every answer is checked against a serial model. The mutator publishes each state *before* it
applies the change and bumps a counter *after*, so a search that starts after ``before`` changes
and ends before ``after`` changes must equal the numpy oracle over one of the states in
``[before, after + 1]`` (a search runs under the index's read lock and sees exactly one state).
"""
from __future__ import annotations

import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
import pytest

import nash_index as ni
from conftest import clustered_codes, oracle_knn, oracle_range
from nash_index.index import synthetic

NBITS = 64
K = 7
RADIUS = 12
SECONDS = float(os.environ.get("NASH_INDEX_STRESS_SECONDS", "4"))


@dataclass
class Model:
    """The serial state: the codes and ids in the index after each mutation."""

    states: List[Tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    done: int = 0  # mutations completed (published after each call returns)
    lock: threading.Lock = field(default_factory=threading.Lock)
    oracle_cache: Dict[Tuple[int, int, str], tuple] = field(default_factory=dict)

    def publish(self, codes: np.ndarray, ids: np.ndarray) -> None:
        with self.lock:
            self.states.append((codes, ids))

    def complete(self) -> None:
        with self.lock:
            self.done += 1

    def candidates(self, before: int, after: int) -> range:
        with self.lock:
            last = len(self.states) - 1
        return range(before, min(after + 1, last) + 1)

    def oracle(self, state: int, query_set: int, queries: np.ndarray, what: str):
        key = (state, query_set, what)
        with self.lock:
            hit = self.oracle_cache.get(key)
            codes, ids = self.states[state]
        if hit is None:
            hit = oracle_knn(codes, ids, queries, K) if what == "knn" else oracle_range(codes, ids, queries, RADIUS)
            with self.lock:
                self.oracle_cache[key] = hit
        return hit


def knn_equal(result, expected) -> bool:
    return np.array_equal(result.distances, expected[0]) and np.array_equal(result.ids, expected[1])


def range_equal(result, expected) -> bool:
    return all(np.array_equal(a, b) for a, b in zip((result.lims, result.distances, result.ids), expected))


def searcher(index, model, query_sets, stop, errors, rng):
    """Searches until told to stop; every answer must be the oracle's for some state it overlapped."""
    try:
        while not stop.is_set():
            qs = int(rng.integers(len(query_sets)))
            queries = query_sets[qs]
            threads = int(rng.integers(0, 3)) or None
            ranged = rng.random() < 0.3
            before = model.done
            if ranged:
                result = index.range_search(queries, RADIUS, num_threads=threads)
            else:
                result = index.search(queries, K, num_threads=threads)
            after = model.done
            what, same = ("range", range_equal) if ranged else ("knn", knn_equal)
            states = model.candidates(before, after)
            if not any(same(result, model.oracle(s, qs, queries, what)) for s in states):
                errors.append(AssertionError(f"{what} answer matches no state in {list(states)}"))
                return
    except Exception as exc:  # surfaced in the main thread
        errors.append(exc)


def pool_churner(stop, errors, rng):
    """Resizes the library's thread pool at the same time as the mutator does (resizes must serialise)."""
    try:
        while not stop.is_set():
            ni.set_num_threads(int(rng.integers(1, 5)))
            time.sleep(0.001)
    except Exception as exc:
        errors.append(exc)


def check_copy(copy, codes, ids, queries):
    """A saved / pickled copy answers like the state it was taken from."""
    expected = oracle_knn(codes, ids, queries, K)
    result = copy.search(queries, K)
    assert knn_equal(result, expected), "a copy of the index answers differently from its state"


class Mutator:
    """Applies random mutations, publishing each resulting state first (see the module docstring)."""

    def __init__(self, index, model, rng, path, queries):
        self.index, self.model, self.rng, self.path, self.queries = index, model, rng, path, queries
        self.codes, self.ids = model.states[-1]
        self.next_id = int(self.ids.max()) + 1 if self.ids.size else 0
        self.centres = synthetic.random_centres(6, NBITS, rng)

    def add(self) -> None:
        n = int(self.rng.integers(1, 60))
        new_codes = clustered_codes(self.rng, n, NBITS, centres=self.centres, p=0.08)
        explicit = self.rng.random() < 0.5
        new_ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        if explicit:  # leave gaps, so default ids must continue after the largest one
            new_ids = new_ids + int(self.rng.integers(0, 5))
        self.apply(np.concatenate([self.codes, new_codes]), np.concatenate([self.ids, new_ids]),
                   lambda: self.index.add(new_codes, new_ids if explicit else None))
        self.next_id = int(new_ids[-1]) + 1

    def remove(self) -> None:
        if self.ids.size == 0:
            return
        doomed = self.rng.choice(self.ids, size=min(self.ids.size, int(self.rng.integers(1, 40))), replace=False)
        unknown = np.array([self.next_id + 1000], dtype=np.int64)  # never present
        keep = ~np.isin(self.ids, doomed)
        removed = {}
        self.apply(self.codes[keep], self.ids[keep],
                   lambda: removed.setdefault("n", self.index.remove(np.concatenate([doomed, unknown]))))
        assert removed["n"] == doomed.size

    def apply(self, codes, ids, change) -> None:
        self.model.publish(codes, ids)
        change()
        self.model.complete()
        self.codes, self.ids = codes, ids

    def save_and_load(self) -> None:
        self.index.save(self.path)
        loaded = ni.load(self.path, mmap=bool(self.rng.random() < 0.5))
        check_copy(loaded, self.codes, self.ids, self.queries)
        assert loaded.ntotal == self.ids.size

    def pickle_round_trip(self) -> None:
        check_copy(pickle.loads(pickle.dumps(self.index)), self.codes, self.ids, self.queries)

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.4:
            self.add()
        elif roll < 0.75:
            self.remove()
        elif roll < 0.85:
            self.save_and_load()
        elif roll < 0.9:
            self.pickle_round_trip()
        else:
            ni.set_num_threads(int(self.rng.integers(1, 5)))


def make(kind: str):
    if kind == "flat":
        return ni.FlatIndex(NBITS)
    index = ni.MultiIndexHashing(NBITS)
    if kind == "mih-tables":  # never fall back to the scan: the tables answer every query
        index.set_fallback("never")
    return index


@pytest.mark.parametrize("kind", ["flat", "mih", "mih-tables"])
def test_stress_searches_during_mutations(kind, tmp_path, flat_restore_runtime):
    rng = np.random.default_rng(sum(map(ord, kind)))
    centres = synthetic.random_centres(6, NBITS, rng)
    codes = clustered_codes(rng, 2000, NBITS, centres=centres, p=0.08)
    ids = rng.permutation(2000).astype(np.int64) * 3  # scrambled, with gaps
    index = make(kind)
    index.add(codes, ids)
    model = Model()
    model.publish(codes, ids)
    query_sets = [clustered_codes(rng, nq, NBITS, centres=centres, p=0.08) for nq in (1, 3, 16)]
    stop, errors = threading.Event(), []
    threads = [
        threading.Thread(target=searcher, args=(index, model, query_sets, stop, errors, np.random.default_rng(s)))
        for s in range(3)
    ]
    threads.append(threading.Thread(target=pool_churner, args=(stop, errors, np.random.default_rng(99))))
    for t in threads:
        t.start()
    mutator = Mutator(index, model, rng, str(tmp_path / "stress.idx"), query_sets[2])
    steps, deadline = 0, time.monotonic() + SECONDS
    try:
        while time.monotonic() < deadline and not errors:
            mutator.step()
            steps += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a searcher hung"
    assert not errors, errors[0]
    assert steps > 20 and model.done > 10
    final_codes, final_ids = model.states[-1]
    check_copy(index, final_codes, final_ids, query_sets[2])
    assert sorted(index.ids().tolist()) == sorted(final_ids.tolist())
