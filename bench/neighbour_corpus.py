"""A stand-in for a large TF-IDF corpus: real documents resampled and perturbed into variants.

Each generated row starts from a random training document of a real corpus (20 Newsgroups or
Reuters, the VDSH recipe's TF-IDF), keeps each of its words with probability ``keep``, borrows
about ``borrow`` times as many words from another document with the same first label (topical
drift, as rewrites and replies show), scales every weight by log-normal noise and is
L2-normalised again. So a source document has n / n_source variants, the near-duplicates and
rewrites that web corpora are full of, and its variants' nearest neighbours are mostly each
other's. Deterministic by seed; rows are generated in chunks (never more than one chunk of
floats beside the result).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["perturbed_corpus"]

_CHUNK = 100_000


def perturbed_corpus(X: sp.csr_matrix, labels: np.ndarray, n: int, seed: int = 0, keep: float = 0.7,
                     borrow: float = 0.3, noise: float = 0.3) -> sp.csr_matrix:
    """(n, X.shape[1]) float32 CSR with unit rows: perturbed variants of the rows of X."""
    X = sp.csr_matrix(X, dtype=np.float32)
    first_label = np.argmax(labels, axis=1)
    by_label = [np.flatnonzero(first_label == c) for c in range(labels.shape[1])]
    rng = np.random.default_rng(seed)
    chunks = [_chunk(X, first_label, by_label, min(_CHUNK, n - s), rng, keep, borrow, noise)
              for s in range(0, n, _CHUNK)]
    return sp.vstack(chunks, format="csr")


def _chunk(X, first_label, by_label, m, rng, keep, borrow, noise) -> sp.csr_matrix:
    source = rng.integers(0, X.shape[0], m)
    partner = _partners(first_label[source], by_label, rng)
    own = _rows(X, source)
    kept = own.tocoo()
    mask = rng.random(kept.nnz) < keep
    other = _rows(X, partner).tocoo()
    take = rng.random(other.nnz) < borrow
    rows = np.concatenate([kept.row[mask], other.row[take]])
    cols = np.concatenate([kept.col[mask], other.col[take]])
    vals = np.concatenate([kept.data[mask], other.data[take]])
    vals = vals * np.exp(noise * rng.standard_normal(vals.size)).astype(np.float32)
    out = sp.csr_matrix((vals, (rows, cols)), shape=(m, X.shape[1]), dtype=np.float32)
    out.sum_duplicates()
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    out.data /= np.repeat(np.maximum(norms, 1e-12), np.diff(out.indptr)).astype(np.float32)
    return out


def _partners(labels: np.ndarray, by_label, rng) -> np.ndarray:
    """A random document of each row's label (itself when the label has no other)."""
    out = np.empty(labels.size, dtype=np.int64)
    for c, members in enumerate(by_label):
        where = np.flatnonzero(labels == c)
        if where.size:
            out[where] = members[rng.integers(0, members.size, where.size)]
    return out


def _rows(X: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    return X[rows]
