"""The neighbour graph from codes (``method="codes"``): exactness where it must be exact, recall on
clustered sparse and dense data, the Hamming candidates against a numpy oracle, arguments, seeds
and threads."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("torch")

from nash_index.models import neighbour_codes, neighbours  # noqa: E402
from nash_index.models.neighbours import nearest_neighbours  # noqa: E402


def _unit(dense: np.ndarray) -> np.ndarray:
    return dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)


def _brute(dense: np.ndarray, k: int) -> np.ndarray:
    """Oracle: full cosine matrix in float64, self excluded, ties by ascending index."""
    S = _unit(dense.astype(np.float64)) @ _unit(dense.astype(np.float64)).T
    np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


def _clustered(n: int, d: int, clusters: int, seed: int, sparse: bool):
    """Rows scattered around random centres: sparse (each row keeps ~60% of its centre's words
    and adds a few random ones) or dense (centre plus Gaussian noise)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, clusters, n)
    if not sparse:
        centres = rng.standard_normal((clusters, d))
        return (centres[label] + 0.6 * rng.standard_normal((n, d))).astype(np.float32)
    centres = (rng.random((clusters, d)) < 0.05) * rng.random((clusters, d))
    keep = rng.random((n, d)) < 0.6
    noise = (rng.random((n, d)) < 0.01) * rng.random((n, d))
    return sp.csr_matrix((centres[label] * keep + noise).astype(np.float32))


def _recall(dense: np.ndarray, got: np.ndarray, k: int) -> float:
    """Share of returned neighbours at least as similar as the true k-th (ties count)."""
    U = _unit(dense.astype(np.float64))
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    kth = -np.sort(-S, axis=1)[:, k - 1:k]
    return float(np.mean(np.take_along_axis(S, got, axis=1) >= kth - 1e-6))


def _check_graph(got: np.ndarray, n: int, k: int) -> None:
    assert got.shape == (n, k) and got.dtype == np.int64
    assert ((got >= 0) & (got < n)).all()
    assert not (got == np.arange(n)[:, None]).any()  # never itself
    assert all(len(set(row)) == k for row in got.tolist())  # no row twice


@pytest.mark.parametrize("sparse", [True, False])
def test_codes_path_is_exact_when_every_row_is_a_candidate(sparse):
    """One cell and candidates >= n - 1: the re-ranking sees every row, so the graph is brute force
    (equal similarities may swap; the order is otherwise the oracle's)."""
    rng = np.random.default_rng(1)
    dense = (rng.random((300, 40)) * (rng.random((300, 40)) < 0.3)).astype(np.float32)
    X = sp.csr_matrix(dense) if sparse else dense
    got = nearest_neighbours(X, 5, method="codes", nbits=64, candidates=299, cell_rows=1000, refine=0)
    want = _brute(dense, 5)
    U = _unit(dense.astype(np.float64))
    sims = lambda ids: np.einsum("ij,ikj->ik", U, U[ids])  # noqa: E731
    np.testing.assert_allclose(sims(got), sims(want), atol=1e-5)
    untied = np.abs(np.diff(sims(_brute(dense, 6)), axis=1)).min(axis=1) > 1e-4
    assert untied.mean() > 0.5
    np.testing.assert_array_equal(got[untied], want[untied])


def test_auto_is_exact_below_the_threshold(monkeypatch):
    X = _clustered(200, 30, 4, seed=2, sparse=True)
    monkeypatch.setattr(neighbours, "EXACT_MAX_ROWS", 199)  # one row more: codes (tiny candidates)
    approx = nearest_neighbours(X, 4, candidates=4, cell_rows=50, refine=0)
    monkeypatch.setattr(neighbours, "EXACT_MAX_ROWS", 200)
    exact = nearest_neighbours(X, 4)
    np.testing.assert_array_equal(exact, nearest_neighbours(X, 4, method="exact"))
    assert not np.array_equal(approx, exact)  # the switch really changed the method


@pytest.mark.parametrize("sparse", [True, False])
def test_recall_on_clustered_data(sparse):
    """Several cells (cell_rows far below n): most true neighbours are still found."""
    X = _clustered(3000, 300, 60, seed=3, sparse=sparse)
    dense = X.toarray() if sparse else X
    got = nearest_neighbours(X, 10, method="codes", cell_rows=500, num_threads=2)
    _check_graph(got, 3000, 10)
    assert _recall(dense, got, 10) > 0.9
    # exact order among what was found: similarities never increase along a row
    U = _unit(dense.astype(np.float64))
    sims = np.einsum("ij,ikj->ik", U, U[got])
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_refine_does_not_lower_recall():
    X = _clustered(2000, 300, 40, seed=4, sparse=True)
    dense = X.toarray()
    kw = dict(method="codes", nbits=64, candidates=10, cell_rows=200, probes=1)
    plain = _recall(dense, nearest_neighbours(X, 10, refine=0, **kw), 10)
    refined = _recall(dense, nearest_neighbours(X, 10, refine=1, **kw), 10)
    assert refined >= plain and refined > 0.5


def test_cell_candidates_match_a_hamming_oracle():
    """Each row's candidates: the nearest codes of each probed cell's members, ties by id, itself out."""
    rng = np.random.default_rng(5)
    n, c = 120, 4
    codes = rng.integers(0, 256, (n, 2), dtype=np.uint8)
    codes[60:70] = codes[60]  # identical codes: ties broken by id
    cells = np.stack([rng.integers(0, 3, n), rng.integers(0, 3, n)], axis=1)
    got = neighbour_codes.cell_candidates(codes, cells, c, num_threads=1)
    bits = np.unpackbits(codes, axis=1)
    for i in range(n):
        for probe in range(2):
            members = np.flatnonzero((cells[:, 0] == cells[i, probe]) & (np.arange(n) != i))
            dist = (bits[members] != bits[i]).sum(axis=1)
            want = members[np.lexsort((members, dist))][:c]
            want = np.concatenate([want, np.full(c - want.size, -1)])
            np.testing.assert_array_equal(got[i, probe * c:(probe + 1) * c], want)


def test_rescore_ignores_missing_candidates_and_breaks_ties_by_id():
    U = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32))
    U = sp.csr_matrix(_unit(U.toarray()).astype(np.float32))
    cand = np.array([[3, -1, 1, 2], [4, 0, -1, -1], [1, 4, 0, 3], [2, 4, 1, 0], [2, 0, 3, -1]])
    got = neighbour_codes.rescore_candidates(U, cand, 2, num_threads=1)
    np.testing.assert_array_equal(got, [[1, 3], [0, 4], [4, 0], [0, 1], [0, 2]])


def test_deterministic_by_seed_and_threads():
    X = _clustered(1500, 200, 30, seed=6, sparse=True)
    kw = dict(method="codes", candidates=12, cell_rows=300)
    first = nearest_neighbours(X, 5, seed=3, **kw)
    np.testing.assert_array_equal(first, nearest_neighbours(X, 5, seed=3, **kw))
    np.testing.assert_array_equal(first, nearest_neighbours(X, 5, seed=3, num_threads=2, **kw))
    assert not np.array_equal(first, nearest_neighbours(X, 5, seed=4, **kw))


def test_threads_honoured(monkeypatch):
    """The Hamming searches and the worker pools get exactly num_threads; BLAS runs on one."""
    from threadpoolctl import threadpool_info

    seen_search, seen_pools, seen_blas = set(), set(), set()
    real_make_index, real_pool = neighbour_codes.make_index, neighbour_codes.ThreadPoolExecutor

    def recording_index(*args, **kwargs):
        index = real_make_index(*args, **kwargs)
        search = index.search

        def recorded(queries, k, *, num_threads=None):
            seen_search.add(num_threads)
            seen_blas.update(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
            return search(queries, k, num_threads=num_threads)
        index.search = recorded
        return index

    def recording_pool(workers):
        seen_pools.add(workers)
        return real_pool(workers)

    monkeypatch.setattr(neighbour_codes, "make_index", recording_index)
    monkeypatch.setattr(neighbour_codes, "ThreadPoolExecutor", recording_pool)
    X = _clustered(800, 100, 10, seed=7, sparse=True)
    nearest_neighbours(X, 5, method="codes", cell_rows=200, num_threads=3)
    nearest_neighbours(X, 5, method="exact", num_threads=3)
    assert seen_search == {3} and seen_pools == {3}
    assert seen_blas <= {1}
    seen_search.clear()
    nearest_neighbours(X, 5, method="codes", cell_rows=200)  # None: the training default, one
    assert seen_search == {1}


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="sample"), "method must be one of"),
    (dict(nbits=12), "nbits must be a multiple of 8"),
    (dict(nbits=512), "nbits must be a multiple of 8"),
    (dict(nbits=0), "nbits must be > 0"),
    (dict(candidates=3), r"candidates must be >= neighbours \(4\)"),
    (dict(probes=0), "probes must be > 0"),
    (dict(cell_rows=0), "cell_rows must be > 0"),
    (dict(refine=-1), "refine must be >= 0"),
    (dict(num_threads=-2), "num_threads"),
])
def test_argument_errors(kwargs, message):
    X = np.eye(6, dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        nearest_neighbours(X, 4, **kwargs)


def test_argument_types():
    with pytest.raises(TypeError, match="candidates"):
        nearest_neighbours(np.eye(6, dtype=np.float32), 2, candidates=2.5)
    with pytest.raises(ValueError, match="neighbours must lie in"):
        nearest_neighbours(np.eye(6, dtype=np.float32), 2.0)
