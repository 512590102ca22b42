"""The MIH probe loop (issue #25, 10-NN tail): the software-pipelined loop, the previous loop kept
as the benchmark's reference (``probe_pipeline = 0``), and a single query's long radius split
between the pool's threads (``split_min_probes``) all give the numpy oracle's answers exactly:
random and clustered codes, 64 and 128 bits, tombstones, delta segments, k in {1, 10, 100} and
range search, with and without the visited bitmap. The split is forced on small data and checked
to have run (``split_radii``)."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, mih_setting, scrambled_ids, uniform_codes
from nash_index.index import _core

MIH = _core.MultiIndexHashing

# (probe_pipeline, split_min_probes, num_threads): the reference loop, the pipeline on one thread,
# the pipeline with every radius split in two threads, and the default threshold.
MODES = {
    "previous_loop": (0, MIH.split_min_probes, 2),
    "pipeline_one_thread": (1, 1, 1),
    "pipeline_split_always": (1, 1, 2),
    "pipeline_default": (1, MIH.split_min_probes, 2),
}


@pytest.fixture(params=sorted(MODES))
def mode(request):
    pipeline, split_min, threads = MODES[request.param]
    with mih_setting("probe_pipeline", pipeline), mih_setting("split_min_probes", split_min):
        yield request.param, threads


@pytest.fixture(params=["bitmap", "no_bitmap"])
def visited(request):
    limit = 0 if request.param == "no_bitmap" else 1 << 32  # the bitmap at every test size
    with mih_setting("visited_bitmap_limit", limit):
        yield


def _codes(kind: str, nbits: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        db = uniform_codes(rng, n, nbits)
        queries = np.concatenate([db[:3], uniform_codes(rng, 4, nbits)])
    else:  # many ties: the id rule decides
        db = clustered_codes(rng, n, nbits, centres=6, p=0.08)
        queries = np.concatenate([db[:3], clustered_codes(rng, 4, nbits, centres=db[3:5], p=0.12)])
    return db, queries


def _check_single_queries(index, db, ids, queries, threads):
    """One call per query (the path that splits), then the batch, against the oracle."""
    index.set_fallback("never")  # walks only: a scan would hide the loop under test
    for k in (1, 10, 100):
        for q in range(len(queries)):
            assert_knn_matches(index.search(queries[q:q + 1], k, num_threads=threads), db, ids, queries[q:q + 1], k)
        assert_knn_matches(index.search(queries, k, num_threads=threads), db, ids, queries, k)
    for radius in (0, 6, 14):
        for q in range(len(queries)):
            got = index.range_search(queries[q:q + 1], radius, num_threads=threads)
            assert_range_matches(got, db, ids, queries[q:q + 1], radius)


@pytest.mark.parametrize("kind", ["uniform", "clustered"])
@pytest.mark.parametrize("nbits", [64, 128])
def test_walk_equals_oracle(mode, visited, kind, nbits):
    name, threads = mode
    db, queries = _codes(kind, nbits, 6000, seed=nbits + len(kind))
    ids = scrambled_ids(np.random.default_rng(3), len(db))
    index = ni.MultiIndexHashing(nbits)
    index.add(db, ids)
    before = MIH.split_radii
    _check_single_queries(index, db, ids, queries, threads)
    if name == "pipeline_split_always":
        assert MIH.split_radii > before  # the parallel path really ran
    elif name in ("pipeline_one_thread", "previous_loop"):
        assert MIH.split_radii == before


def test_tombstones_and_delta_segments(mode, visited):
    name, threads = mode
    rng = np.random.default_rng(7)
    nbits = 64
    db = np.concatenate([clustered_codes(rng, 7000, nbits, centres=8, p=0.07), uniform_codes(rng, 1000, nbits)])
    db = db[rng.permutation(len(db))]
    ids = scrambled_ids(rng, len(db))
    queries = np.concatenate([db[:3], clustered_codes(rng, 4, nbits, centres=db[3:5], p=0.1)])
    with mih_setting("max_tail", 400):
        index = ni.MultiIndexHashing(nbits)
        index.add(db[:6000], ids[:6000])
        for lo in range(6000, 8000, 600):  # three delta segments, then 200 codes left in the tail
            index.add(db[lo:lo + 600], ids[lo:lo + 600])
        assert index.segments == 4 and index.indexed == 7800
        doomed = rng.choice(len(db), 600, replace=False)  # under 1/8: stays as tombstones
        assert index.remove(ids[doomed]) == 600
        assert index.tombstones > 500  # those in the tail go at once
        keep = np.ones(len(db), bool)
        keep[doomed] = False
        before = MIH.split_radii
        _check_single_queries(index, db[keep], ids[keep], queries, threads)
        if name == "pipeline_split_always":
            assert MIH.split_radii > before


def test_split_follows_num_threads_and_budget():
    """num_threads=1 never splits; a walk that would pass its budget inside a split radius is
    answered by the scan, still exactly."""
    rng = np.random.default_rng(11)
    db = uniform_codes(rng, 20000, 64)
    queries = uniform_codes(rng, 5, 64)
    ids = np.arange(len(db), dtype=np.int64)
    index = ni.MultiIndexHashing(64)
    index.add(db)
    with mih_setting("split_min_probes", 1):
        before = MIH.split_radii
        for q in range(len(queries)):
            index.search(queries[q:q + 1], 10, num_threads=1)
        assert MIH.split_radii == before
        index.set_fallback("auto")  # uniform codes: long walks, the budget decides
        for q in range(len(queries)):
            result, work = index.search_with_work(queries[q:q + 1], 10, num_threads=2)
            assert_knn_matches(result, db, ids, queries[q:q + 1], 10)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="probe_pipeline must be 0 or 1"):
        MIH.probe_pipeline = 2
    assert MIH.probe_pipeline == 1


@pytest.mark.parametrize("n, m, max_key_bits", [
    (12, 2, None),      # a table of 12 codes: no prefix bits, the whole key is a suffix
    (5000, 8, None),    # 8-bit keys over 5000 codes: no suffix bits, a prefix is a key
    (5000, 2, 20),      # keys cut to 20 bits (max_key_bits)
    (3000, 3, None),    # 21-22-bit keys
])
def test_table_shapes(mode, n, m, max_key_bits):
    """Prefix and suffix lengths at their extremes: every walk still equals the oracle."""
    name, threads = mode
    rng = np.random.default_rng(n + m)
    db = np.concatenate([clustered_codes(rng, n - n // 4, 64, centres=5, p=0.1), uniform_codes(rng, n // 4, 64)])
    ids = scrambled_ids(rng, n)
    queries = np.concatenate([db[:2], clustered_codes(rng, 3, 64, centres=db[2:4], p=0.12)])
    index = ni.MultiIndexHashing(64, m, max_key_bits=max_key_bits)
    index.add(db, ids)
    assert index.m == m
    _check_single_queries(index, db, ids, queries, threads)
