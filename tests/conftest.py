"""Shared fixtures and helpers for every folder of the suite (tests/<layer>/ mirrors nash_index/<layer>/).

Index helpers: an independent numpy oracle for exact Hamming k-NN / range search (popcount by a
256-entry lookup table, so it runs on numpy 1.24 too) and the code generators, which wrap
:mod:`nash_index.index.synthetic` (one generator for the whole repository).
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import nash_index as ni
from nash_index.index import synthetic

PAD_DISTANCE = np.iinfo(np.int32).max
PAD_ID = -1


# ---------------------------------------------------------------- index oracle
#: Set bits of every byte value (np.bitwise_count needs numpy >= 2; the package allows 1.24).
POPCOUNT8 = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)


#: Every index kind the core registers, for the tests that must hold for each of them (exactness,
#: files, shards): "flat", "mih", and the test-only "sorted" (cpp/test_kinds) in builds made by
#: scripts/setup.sh. A kind added to the core joins those tests without a line here.
KINDS = ni.registered_kinds()
#: The example kind (cpp/test_kinds/sorted_scan.cpp): a C++ source and header, nothing else.
EXAMPLE_KIND = "sorted"
#: Kinds that store identical codes once (cpp/src/dedup.cpp): their storage order (codes(), ids())
#: is by distinct code, then by id, not the order of addition.
DEDUP_KINDS = ("flat_dedup", "mih_dedup")


def require_example_kind() -> None:
    """Skips when the core was built without the test-only kinds (a wheel, not scripts/setup.sh)."""
    if EXAMPLE_KIND not in KINDS:
        pytest.skip("the core was built without NASH_INDEX_TEST_KINDS (run scripts/setup.sh)")


def popcount(codes: np.ndarray) -> np.ndarray:
    """Set bits of each uint8 element (same shape), by table lookup."""
    return POPCOUNT8[np.asarray(codes, dtype=np.uint8)]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between broadcastable packed codes (last axis: bytes), int64."""
    return popcount(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int64)


def oracle_distances(db: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(nq, n) Hamming distances by numpy xor + a popcount table (no nash_index code)."""
    if db.shape[0] == 0:
        return np.zeros((queries.shape[0], 0), dtype=np.int64)
    return hamming(queries[:, None, :], db[None, :, :])


def oracle_knn(db: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int):
    """k best (distance, id) per query, padded like faiss (INT32_MAX, -1)."""
    nq = queries.shape[0]
    dist = np.full((nq, k), PAD_DISTANCE, dtype=np.int64)
    out_ids = np.full((nq, k), PAD_ID, dtype=np.int64)
    all_d = oracle_distances(db, queries)
    m = min(k, db.shape[0])
    for q in range(nq):
        d = all_d[q]
        near = np.flatnonzero(d <= np.partition(d, m - 1)[m - 1]) if m else np.zeros(0, dtype=np.int64)
        order = near[np.lexsort((ids[near], d[near]))][:m]  # primary key: distance, then id
        dist[q, :m] = d[order]
        out_ids[q, :m] = ids[order]
    return dist, out_ids


def oracle_range(db: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int):
    """faiss-style CSR (lims, distances, ids), each query sorted by (distance, id)."""
    all_d = oracle_distances(db, queries)
    lims, ds, js = [0], [], []
    for q in range(queries.shape[0]):
        hit = np.nonzero(all_d[q] <= radius)[0]
        order = hit[np.lexsort((ids[hit], all_d[q, hit]))]
        ds.append(all_d[q, order])
        js.append(ids[order])
        lims.append(lims[-1] + order.size)
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)  # noqa: E731
    return np.asarray(lims), cat(ds), cat(js)


def assert_knn_matches(result, db, ids, queries, k):
    d_ref, i_ref = oracle_knn(db, ids, queries, k)
    assert result.distances.dtype == np.int32 and result.ids.dtype == np.int64
    assert result.distances.shape == (queries.shape[0], k)
    np.testing.assert_array_equal(result.distances, d_ref)
    np.testing.assert_array_equal(result.ids, i_ref)


def assert_same_as(index, reference, queries, ks=(1, 10, 100)):
    """``index.search`` equals ``reference.search`` (another index kind) for each k: distances, ids,
    dtypes, and writable arrays (what every index returns)."""
    for k in ks:
        got, want = index.search(queries, k), reference.search(queries, k)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.distances, want.distances)
        assert got.ids.dtype == np.int64 and got.distances.dtype == np.int32
        assert got.ids.flags.writeable and got.distances.flags.writeable


def assert_range_matches(result, db, ids, queries, radius):
    lims, d, i = oracle_range(db, ids, queries, radius)
    np.testing.assert_array_equal(result.lims, lims)
    np.testing.assert_array_equal(result.distances, d)
    np.testing.assert_array_equal(result.ids, i)


# ------------------------------------------------------------ code generators
def uniform_codes(rng: np.random.Generator, n: int, nbits: int) -> np.ndarray:
    """``n`` uniformly random packed codes (:func:`nash_index.index.synthetic.uniform_codes`)."""
    return synthetic.uniform_codes(n, nbits, seed=rng)


def clustered_codes(rng: np.random.Generator, n: int, nbits: int, centres=4, p: float = 0.05) -> np.ndarray:
    """Codes around ``centres`` random codes (a count, or packed codes), each bit of every member
    flipped with probability p: many ties (:func:`nash_index.index.synthetic.clustered_codes`)."""
    return synthetic.clustered_codes(n, nbits, centres=centres, flip=p, seed=rng)


@contextlib.contextmanager
def mih_setting(name: str, value: int):
    """Sets a process-wide MultiIndexHashing setting of the core (``visited_bitmap_limit``,
    ``max_tail``) for the duration of the block."""
    from nash_index.index import _core

    previous = getattr(_core.MultiIndexHashing, name)
    setattr(_core.MultiIndexHashing, name, value)
    try:
        yield
    finally:
        setattr(_core.MultiIndexHashing, name, previous)


def scrambled_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique, non-monotonic ids, so that the tie rule by id is really exercised."""
    return rng.permutation(np.arange(n, dtype=np.int64) * 7 + 3)


@pytest.fixture
def flat_rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def flat_restore_runtime():
    """Restores the SIMD level and pool size a test changes."""
    level, threads = ni.simd_level(), ni.get_num_threads()
    yield
    ni.set_simd_level(level)
    ni.set_num_threads(threads)


# ---------------------------------------------------------------- corpora (datasets suite)
def _shared_data_dir():
    """$NASH_INDEX_DATA, else <repo>/../shared/data (the CI layout), else None."""
    import os
    from pathlib import Path

    env = os.environ.get("NASH_INDEX_DATA")
    if env:
        return Path(env.split(os.pathsep)[0])
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return shared if shared.is_dir() else None


@pytest.fixture(scope="session")
def shared_data_dir():
    """Folder with the real corpus archives; skips the test when it is absent."""
    path = _shared_data_dir()
    if path is None or not path.is_dir():
        pytest.skip("real corpora not found (set NASH_INDEX_DATA or put ../shared/data beside the repo)")
    return path


@pytest.fixture
def datasets_tmp_cache(tmp_path, monkeypatch):
    """Point the nash_index cache (and per-user data folder) at a fresh temporary folder."""
    cache = tmp_path / "nash_cache"
    monkeypatch.setenv("NASH_INDEX_CACHE", str(cache))
    monkeypatch.delenv("NASH_INDEX_DATA", raising=False)
    return cache


# ---------------------------------------------------------------- texts (text, pipeline suites)
@pytest.fixture(scope="session")
def docstring_raw(tmp_path_factory):
    """The demo's embedded corpus (docstrings of a few standard-library modules), collected once
    into a session cache; a labelled RawCorpus with train/test texts and keys."""
    from nash_index.datasets.docstrings import DEMO_MODULES, docstring_corpus

    cache = tmp_path_factory.mktemp("docstring_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASH_INDEX_CACHE", str(cache))
        return docstring_corpus(DEMO_MODULES, packages=(), min_query_label=5)


# ---------------------------------------------------------------- Ray (tests/distributed)
RAY_LOCAL_CPUS = 2  # CI's machine: shards share two CPUs, as they would on a small node
RAY_NODE_IP = "127.0.0.1"  # Ray's processes listen on loopback only (by default: the host's interface)


def start_local_ray():
    """The ``ray`` module, connected to one local Ray cluster, started on first use and shared by
    the session. A test that needs another cluster (the simulated multi-node one) shuts it down;
    the next user starts it again."""
    ray = pytest.importorskip("ray", reason="nash_index[distributed] (Ray) is not installed")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=RAY_LOCAL_CPUS, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _node_ip_address=RAY_NODE_IP)
    return ray


@pytest.fixture
def ray_local():
    return start_local_ray()
