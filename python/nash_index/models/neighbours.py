"""Neighbourhood reconstruction: decode each document's nearest neighbours from its own code.

The signal behind PairRec (Hansen et al., SIGIR 2020) and SNUH (Ou et al., ACL 2021): a code
should predict not only its own document's words but those of the documents nearest to it in the
input space, so that documents with similar neighbourhoods get similar codes. Here the
neighbours of document i are its ``k`` nearest training documents by cosine similarity of X (the
TF-IDF rows, or dense embeddings), found once before training: by brute force up to 20,000
documents, above that from short codes searched in the project's Hamming index and re-ranked by
exact cosine (``neighbour_codes.py``). The extra term is

    weight * (1/k) * sum_{j in N(i)} -log p(x_j | z_i)

and because both likelihoods are linear in the target, the k terms collapse into one with the
*mean* target: the softmax decoder scores the mean word-presence (or count/TF-IDF) row of the
neighbours, the Gaussian decoder the mean neighbour vector (``sum_j ||x_j - x_hat||^2`` equals
``k ||mean_j x_j - x_hat||^2`` plus a constant). So the term costs one more gather over the
decoder's output per batch, not another forward pass.
"""
from __future__ import annotations

import sys
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp
import torch
from threadpoolctl import threadpool_limits

from ..checks import check_int, check_positive_int, unit_rows
from .batching import ArrayLike, Batch, to_batch
from .neighbour_codes import assign_cells, cell_candidates, fit_cells, rescore_candidates, run_blocks, simhash_codes
from .threads import resolve_num_threads

__all__ = ["DEFAULT_CANDIDATES", "DEFAULT_CELL_ROWS", "DEFAULT_CODE_BITS", "DEFAULT_PROBES", "DEFAULT_REFINE",
           "EXACT_MAX_ROWS",
           "NEIGHBOUR_METHODS",
           "NeighbourTargets", "nearest_neighbours"]

_BLOCK_ROWS = 1024
#: Up to this many training documents the graph is exact (brute force); above, it comes from codes.
EXACT_MAX_ROWS = 20_000
#: Bits of the short codes that propose candidates, candidates re-ranked per document and probed
#: cell, cells each document probes, and documents per cell (bench/results/neighbours.md).
DEFAULT_CODE_BITS = 256
DEFAULT_CANDIDATES = 32
DEFAULT_PROBES = 2
DEFAULT_CELL_ROWS = 4096
#: Rounds of neighbours' neighbours after the code search (at 10^5: none 0.66, one 0.77, two 0.80 recall).
DEFAULT_REFINE = 2
NEIGHBOUR_METHODS = ("auto", "exact", "codes")


def nearest_neighbours(X: ArrayLike, k: int, *, method: str = "auto", nbits: int = DEFAULT_CODE_BITS,
                       candidates: int = DEFAULT_CANDIDATES, probes: int = DEFAULT_PROBES,
                       cell_rows: int = DEFAULT_CELL_ROWS, refine: int = DEFAULT_REFINE,
                       num_threads: Optional[int] = None,
                       seed: int = 0, verbose: bool = False) -> np.ndarray:
    """Indices (n, k) int64 of each row's ``k`` most cosine-similar *other* rows of X (sparse
    CSR or dense), most similar first; equal similarities by ascending index (which of several
    equal ones makes the k-th place may differ between methods).

    ``method="exact"``: brute force in blocks of rows (n^2 dot products: 2 s for 7,000 Reuters
    documents, 7 s for 11,000 newsgroup posts on one core). ``"codes"`` (``neighbour_codes.py``):
    the rows are cut into k-means cells of about ``cell_rows``; each row takes, from each of the
    ``probes`` cells nearest to it, the ``candidates`` rows nearest by Hamming distance of
    ``nbits``-bit SimHash codes (the project's exact Hamming index), keeps the k most
    cosine-similar, then ``refine`` times also weighs its neighbours' neighbours. Approximate in
    which rows are found (recall in ``bench/results/neighbours.md``), exact in their order.
    ``"auto"`` is exact up to :data:`EXACT_MAX_ROWS` rows and uses codes above.
    ``num_threads`` (None: the training default) bounds the threads the search starts (BLAS
    runs on one); ``seed`` fixes the codes' projection, so the graph is deterministic.
    """
    n = X.shape[0]
    if method not in NEIGHBOUR_METHODS:
        raise ValueError(f"method must be one of {NEIGHBOUR_METHODS}, got {method!r}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 < k < n:
        raise ValueError(f"neighbours must lie in [1, {n - 1}] for {n} training documents, got {k!r}")
    nbits = check_positive_int(nbits, "nbits")
    if nbits % 8 or nbits > 256:
        raise ValueError(f"nbits must be a multiple of 8 in [8, 256], got {nbits}")
    candidates = check_positive_int(candidates, "candidates")
    probes = check_positive_int(probes, "probes")
    cell_rows = check_positive_int(cell_rows, "cell_rows")
    refine = check_int(refine, "refine")
    if refine < 0:
        raise ValueError(f"refine must be >= 0, got {refine}")
    if candidates < k:
        raise ValueError(f"candidates must be >= neighbours ({k}), got {candidates}")
    threads = resolve_num_threads(num_threads)
    U = unit_rows(X)
    with threadpool_limits(1):  # BLAS threads spin on a busy machine (QR 8x slower at 2): ours only
        if method == "exact" or (method == "auto" and n <= EXACT_MAX_ROWS):
            return _exact(U, k, threads, verbose)
        return _from_codes(U, k, nbits, candidates, probes, cell_rows, refine, threads, seed)


def _from_codes(U: Any, k: int, nbits: int, candidates: int, probes: int, cell_rows: int,
                refine: int, threads: int, seed: int) -> np.ndarray:
    """Candidates from the codes of the cells each row probes, re-ranked by exact cosine; a row
    that found fewer than k candidates (a cell of a few rows) gets its exact neighbours."""
    n = U.shape[0]
    mean, directions, centroids = fit_cells(U, max(1, round(n / cell_rows)), seed)
    cells = assign_cells(U, mean, directions, centroids, probes)
    found = cell_candidates(simhash_codes(U, nbits, seed), cells, min(candidates, n - 1), threads)
    graph = rescore_candidates(U, found, k, threads)
    short = np.flatnonzero((found >= 0).sum(axis=1) < k)
    if short.size:
        graph[short] = _exact_rows(U, short, k)
    for _ in range(refine):
        graph = _refine(U, graph, k, threads)
    return graph


_FAN = 5


def _refine(U: Any, graph: np.ndarray, k: int, threads: int) -> np.ndarray:
    """One round of neighbours' neighbours (NN-descent's step): each row's candidates become its
    k neighbours and the first few neighbours of its first few, re-ranked by exact cosine."""
    n = graph.shape[0]
    out = np.empty_like(graph)
    fan = min(_FAN, k)
    for start in range(0, n, 65_536):
        stop = min(start + 65_536, n)
        mine = graph[start:stop]
        theirs = graph[mine[:, :fan]][:, :, :fan].reshape(stop - start, fan * fan)
        cand = np.sort(np.concatenate([mine, theirs], axis=1), axis=1)
        cand[:, 1:][cand[:, 1:] == cand[:, :-1]] = -1
        cand[cand == np.arange(start, stop)[:, None]] = -1
        out[start:stop] = rescore_candidates(U, cand, k, threads, first_row=start)
    return out


def _exact_rows(U: Any, rows: np.ndarray, k: int) -> np.ndarray:
    """Brute force for a few rows."""
    sims = U[rows] @ U.T
    sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
    sims[np.arange(rows.size), rows] = -np.inf
    return _top_k(sims, k)


def _exact(U: Any, k: int, threads: int, verbose: bool) -> np.ndarray:
    """Brute force: blocks of rows against all rows, the blocks spread over ``threads``."""
    n = U.shape[0]
    UT = U.T.tocsr() if sp.issparse(U) else np.ascontiguousarray(U.T)
    out = np.empty((n, k), dtype=np.int64)
    starts = range(0, n, _BLOCK_ROWS)
    bar = _bar(len(starts), verbose)

    def block(start: int) -> None:
        stop = min(start + _BLOCK_ROWS, n)
        sims = U[start:stop] @ UT
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # never its own neighbour
        out[start:stop] = _top_k(sims, k)
        if bar is not None:
            bar.update(1)

    run_blocks(block, starts, threads)
    if bar is not None:
        bar.close()
    return out


def _top_k(sims: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest values, ordered by (descending value, ascending index)."""
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(sims, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _bar(total: int, verbose: bool):
    if not verbose or sys.stderr is None or getattr(sys.stderr, "closed", False):  # no stderr: tqdm would fail
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="neighbours", unit="block", leave=False)


class NeighbourTargets:
    """The mean target row of each training document's neighbours, one batch at a time.

    ``target`` is the softmax likelihood's weighting (``"presence"``: each distinct word of a
    neighbour counts 1, else X's entries); dense X gives the mean neighbour vector.
    """

    def __init__(self, X: ArrayLike, neighbours: np.ndarray, target: str = "presence") -> None:
        n, k = neighbours.shape
        if n != X.shape[0]:
            raise ValueError(f"neighbours has {n} rows, X has {X.shape[0]}")
        self.neighbours = neighbours
        self.dense: Optional[np.ndarray] = None if sp.issparse(X) else np.asarray(X, dtype=np.float32)
        if self.dense is None:
            self.words = X.copy().tocsr()  # each row's target: its words (presence or X's entries)
            if target == "presence":
                self.words.data = np.ones_like(self.words.data)
            # row i of averaging @ words is the mean of i's neighbours' rows
            data = np.full(n * k, 1.0 / k, dtype=np.float32)
            self.averaging = sp.csr_matrix((data, neighbours.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))

    def batch(self, rows: np.ndarray) -> Batch:
        """The neighbours' mean targets of training rows ``rows``, as a model batch."""
        if self.dense is not None:
            return torch.from_numpy(self.dense[self.neighbours[rows]].mean(axis=1))
        means = (self.averaging[rows] @ self.words).tocsr()
        means.sort_indices()
        return to_batch(means)
