"""The neighbour graph of a large training set: Hamming candidates, re-ranked by exact cosine.

Exact cosine k-NN over n documents costs n^2 dot products (an hour at 10^6 on one core), and an
exact Hamming k-NN of every code against all n codes is no cheaper (measured at 10^6: 1.4-2.7 ms
per query through MIH or the flat scan, as the codes of near neighbours differ in a third of
their bits). So the search is split in two, as an inverted-file index does:

1. *Coarse cells.* The unit rows are projected on their first principal directions (fitted on a
   seeded sample) and a seeded k-means on that projection cuts the set into cells of about
   ``cell_rows`` documents. Each document is stored in its nearest cell and probes its
   ``probes`` nearest.
2. *Short codes.* Every row gets a random-hyperplane code (Charikar's SimHash: bit j is the sign
   of the dot product with a Gaussian direction), whose Hamming distance estimates the angle
   between rows without the bias toward the top principal directions that PCA codes have
   (measured: at 10^6 rows and 32 candidates, 256-bit SimHash found 0.80 of the true 10-NN,
   128-bit PCA-ITQ 0.30).
3. *Candidates.* Each cell's codes go into the project's exact Hamming index; every document
   asks the cells it probes for its ``candidates`` nearest codes (the searches release the GIL
   and use ``num_threads``).
4. *Re-ranking.* The k candidates with the largest exact cosine are the neighbours: only which
   rows are found is approximate, their similarities and order are exact.

The PCA step (a randomized range finder) and the k-means are written here rather than borrowed
from ``nash_index.baselines`` or scikit-learn: models may not import baselines (a layer rule),
only a projection is needed, and the k-means must honour the thread budget.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Tuple

import numpy as np
import scipy.sparse as sp

from ..index import make_index

__all__ = ["assign_cells", "cell_candidates", "fit_cells", "rescore_candidates", "simhash_codes"]

_SAMPLE_ROWS = 20_000   # rows the projection and the cells are fitted on
_PCA_DIMS = 32          # dimensions the cells are found in (topics, not words)
_KMEANS_STEPS = 10
_CODE_BLOCK = 65_536    # rows projected at a time (bounds the float temporaries)
_RESCORE_BLOCK = 64     # rows re-ranked at a time (their dense buffer stays in cache)


def fit_cells(U: Any, cells: int, seed: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (d,), directions (d, p), centroids (cells, p)) float32: the principal directions of
    a seeded sample of the unit rows ``U`` (sparse CSR or dense) and a k-means of the sample's
    projection on them."""
    rng = np.random.default_rng(seed)
    n = U.shape[0]
    rows = np.sort(rng.choice(n, min(n, max(_SAMPLE_ROWS, 8 * cells)), replace=False))
    S = U[rows]
    mean = np.asarray(S.mean(axis=0), dtype=np.float64).ravel()
    directions = _top_components(S, mean, min(_PCA_DIMS, *S.shape), rng)
    P = _project(S, mean, directions)
    centroids = _kmeans(P, min(cells, P.shape[0]), rng)
    return mean.astype(np.float32), directions.astype(np.float32), centroids


def _kmeans(P: np.ndarray, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means from a seeded sample of rows; an emptied cell restarts at a random row."""
    centroids = P[rng.choice(P.shape[0], cells, replace=False)].copy()
    for _ in range(_KMEANS_STEPS):
        nearest = _nearest_cells(P, centroids, 1)[:, 0]
        counts = np.bincount(nearest, minlength=cells)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, P)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
        centroids[empty] = P[rng.choice(P.shape[0], int(empty.sum()))]
    return centroids


def _nearest_cells(P: np.ndarray, centroids: np.ndarray, probes: int) -> np.ndarray:
    """(len(P), probes) the indices of each row's nearest centroids, nearest first."""
    scores = P @ centroids.T * -2.0 + (centroids * centroids).sum(axis=1)[None, :]  # |c|^2 - 2 p.c
    if probes >= centroids.shape[0]:
        return np.argsort(scores, axis=1, kind="stable")
    part = np.argpartition(scores, probes - 1, axis=1)[:, :probes]
    order = np.argsort(np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def assign_cells(U: Any, mean: np.ndarray, directions: np.ndarray, centroids: np.ndarray,
                 probes: int) -> np.ndarray:
    """(n, probes) int64: each row's nearest cells, nearest first (its home cell in column 0)."""
    n = U.shape[0]
    out = np.empty((n, min(probes, centroids.shape[0])), dtype=np.int64)
    for start in range(0, n, _CODE_BLOCK):
        stop = min(start + _CODE_BLOCK, n)
        out[start:stop] = _nearest_cells(_project(U[start:stop], mean, directions), centroids, out.shape[1])
    return out


def _top_components(S: Any, mean: np.ndarray, nbits: int, rng: np.random.Generator) -> np.ndarray:
    """(d, nbits) leading right singular vectors of the centred sample, by a randomized range
    finder (Halko et al. 2011) with one power iteration; the centring is never materialised."""
    m, d = S.shape
    width = min(nbits + 16, m, d)

    def times(G: np.ndarray) -> np.ndarray:  # (S - 1 mean^T) @ G
        return np.asarray(S @ G) - (mean @ G)[None, :]

    def transposed_times(Q: np.ndarray) -> np.ndarray:  # (S - 1 mean^T)^T @ Q
        return np.asarray(S.T @ Q) - np.outer(mean, Q.sum(axis=0))

    Q, _ = np.linalg.qr(times(rng.standard_normal((d, width))))
    for _ in range(1):
        Q, _ = np.linalg.qr(transposed_times(Q))
        Q, _ = np.linalg.qr(times(Q))
    _, _, vt = np.linalg.svd(transposed_times(Q).T, full_matrices=False)
    components = vt[:nbits].T
    if components.shape[1] < nbits:  # fewer dimensions than bits: pad with random directions
        extra = rng.standard_normal((d, nbits - components.shape[1]))
        components = np.hstack([components, extra / np.linalg.norm(extra, axis=0)])
    return components


def _project(S: Any, mean: np.ndarray, W: np.ndarray) -> np.ndarray:
    return (np.asarray(S @ W) - (mean @ W)[None, :]).astype(np.float32)


def simhash_codes(U: Any, nbits: int, seed: int) -> np.ndarray:
    """Packed uint8 codes (n, nbits / 8): bit j set where row i has a positive dot product with
    seeded Gaussian direction j (no centring: the bits estimate the angle between rows)."""
    n, d = U.shape
    directions = np.random.default_rng(seed).standard_normal((d, nbits)).astype(np.float32)
    codes = np.empty((n, nbits // 8), dtype=np.uint8)
    for start in range(0, n, _CODE_BLOCK):
        stop = min(start + _CODE_BLOCK, n)
        codes[start:stop] = np.packbits(np.asarray(U[start:stop] @ directions) > 0, axis=1)
    return codes


def cell_candidates(codes: np.ndarray, cells: np.ndarray, candidates: int, num_threads: int) -> np.ndarray:
    """(n, probes * candidates) int64: for each row and each cell it probes, the ``candidates``
    nearest codes stored in that cell (each row stored in its home cell, ``cells[:, 0]``), by the
    exact Hamming index; the row itself and missing places are -1."""
    n, probes = cells.shape
    nbits = codes.shape[1] * 8
    out = np.full((n, probes * candidates), -1, dtype=np.int64)
    members_of = _rows_by_cell(cells[:, 0], int(cells.max()) + 1)
    askers_of = [_rows_by_cell(cells[:, probe], len(members_of)) for probe in range(probes)]
    for cell, members in enumerate(members_of):
        if members.size == 0:
            continue
        index = make_index(nbits, members.size)  # built once, asked by every row probing the cell
        index.add(codes[members], members)
        for probe in range(probes):
            askers = askers_of[probe][cell]
            if askers.size == 0:
                continue
            ids = index.search(codes[askers], candidates + 1, num_threads=num_threads).ids
            ids[ids == askers[:, None]] = -1  # never its own candidate
            out[askers, probe * candidates:(probe + 1) * candidates] = _first_found(ids, candidates)
    return out


def _rows_by_cell(cell_of_row: np.ndarray, cells: int) -> list:
    """The rows of each cell, ascending."""
    order = np.argsort(cell_of_row, kind="stable")
    return np.split(order, np.cumsum(np.bincount(cell_of_row, minlength=cells))[:-1])


def _first_found(ids: np.ndarray, candidates: int) -> np.ndarray:
    """Each row's first ``candidates`` ids that are not -1 (padded with -1), in order."""
    missing = ids < 0
    order = np.argsort(missing, axis=1, kind="stable")[:, :candidates]
    return np.take_along_axis(ids, order, axis=1)


def rescore_candidates(U: Any, candidates: np.ndarray, k: int, num_threads: int, first_row: int = 0) -> np.ndarray:
    """(len(candidates), k) int64: of the candidate ids of rows ``first_row``, ``first_row + 1``,
    ..., the k with the largest exact cosine (unit rows ``U``; -1 ignored, no id twice), ordered by
    (descending similarity, ascending id); blocks of rows run on ``num_threads`` threads (numpy
    and scipy release the GIL in the heavy steps)."""
    n = candidates.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    similarities = _SparseDots(U.shape[1]) if sp.issparse(U) else None

    def block(start: int) -> None:
        stop = min(start + _RESCORE_BLOCK, n)
        cand = candidates[start:stop]
        rows = (first_row + start, first_row + stop)
        sims = similarities(U, *rows, cand) if similarities is not None else _dense_dots(U, *rows, cand)
        sims[cand < 0] = -np.inf
        order = np.lexsort((np.where(cand < 0, np.iinfo(np.int64).max, cand), -sims), axis=1)[:, :k]
        out[start:stop] = np.take_along_axis(cand, order, axis=1)

    run_blocks(block, range(0, n, _RESCORE_BLOCK), num_threads)
    return out


def run_blocks(block: Callable[[int], None], starts: Iterable[int], num_threads: int) -> None:
    """``block(start)`` for every start, on ``num_threads`` threads (numpy releases the GIL)."""
    if num_threads <= 1:
        for start in starts:
            block(start)
    else:
        with ThreadPoolExecutor(num_threads) as pool:
            list(pool.map(block, starts))


def _dense_dots(U: np.ndarray, start: int, stop: int, cand: np.ndarray) -> np.ndarray:
    return np.einsum("id,icd->ic", U[start:stop], U[np.maximum(cand, 0)], dtype=np.float32)


class _SparseDots:
    """Dot products of sparse rows with their candidates: the block's rows are scattered into a
    dense buffer (one per thread, zeroed again after use, small enough to stay in cache) and
    each candidate's stored words are looked up in its row's part of it."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.local = threading.local()

    def __call__(self, U: Any, start: int, stop: int, cand: np.ndarray) -> np.ndarray:
        nrows, c = cand.shape
        buffer = getattr(self.local, "buffer", None)
        if buffer is None:
            buffer = self.local.buffer = np.zeros(_RESCORE_BLOCK * self.width, dtype=np.float32)
        offsets = np.arange(nrows, dtype=np.int64) * self.width
        rows = U[start:stop]
        where = np.repeat(offsets, np.diff(rows.indptr)) + rows.indices
        buffer[where] = rows.data
        gathered = U[np.maximum(cand, 0).ravel()]
        lengths = np.diff(gathered.indptr)
        products = gathered.data * buffer[np.repeat(np.repeat(offsets, c), lengths) + gathered.indices]
        buffer[where] = 0.0
        sums = np.zeros(nrows * c, dtype=np.float32)
        filled = lengths > 0
        if products.size:
            sums[filled] = np.add.reduceat(products, gathered.indptr[:-1][filled])
        return sums.reshape(nrows, c)
