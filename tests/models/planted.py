"""Shared by the model tests: a planted-topic bag-of-words corpus, a brute-force precision oracle,
and small training settings (numpy and scipy only; the test modules import torch)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

FAST = dict(hidden=(64,), epochs=15, batch_size=32, lr=3e-3, verbose=False, device="cpu")
SUP = dict(label_hidden=32)


def planted_corpus(n: int, seed: int, vocab: int = 400, topics: int = 5, length: int = 30,
                   purity: float = 0.7):
    """Bag-of-words documents: ``purity`` of the words come from the topic's own vocabulary
    block, the rest uniformly from the whole vocabulary. Returns (CSR log-counts, topic ids)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, topics, n)
    block = vocab // topics
    rows, cols = [], []
    for i, t in enumerate(y):
        own = rng.random(length) < purity
        words = np.where(own, t * block + rng.integers(0, block, length),
                         rng.integers(0, vocab, length))
        rows.extend([i] * length)
        cols.extend(words.tolist())
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, vocab))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    return X, y


def brute_precision(db_bits, db_y, q_bits, q_y, k):
    """Oracle precision@k for single-label data: per-query stable argsort of Hamming distances."""
    total = 0.0
    for q, label in zip(q_bits, q_y):
        dist = (db_bits != q).sum(axis=1)
        top = np.argsort(dist, kind="stable")[:k]
        total += np.mean(db_y[top] == label)
    return total / len(q_bits)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Keep the suite light on a shared 2-core machine (autouse where imported)."""
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def corpus():
    """Planted topics: a database and a validation set."""
    X, y = planted_corpus(600, seed=1)
    Xv, yv = planted_corpus(150, seed=2)
    return X, y, Xv, yv
