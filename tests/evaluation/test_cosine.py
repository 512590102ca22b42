"""Exact float-cosine precision@k, against hand-checked cases and a plain-loop oracle."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.evaluation import cosine_precision_at_k


def test_hand_checked_small_case():
    db = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    db_labels = np.array([0, 0, 1, 1])
    queries = np.array([[1, 0.05], [0.05, 1]], dtype=np.float32)
    # k=2: query 0 retrieves rows 0, 1 (label 0), query 1 rows 2, 3 (label 1)
    assert cosine_precision_at_k(db, db_labels, queries, np.array([0, 1]), k=2) == 1.0
    assert cosine_precision_at_k(db, db_labels, queries, np.array([0, 0]), k=2) == 0.5
    assert cosine_precision_at_k(db, db_labels, queries, np.array([1, 0]), k=2) == 0.0
    # k=3: query 0 gets rows 0, 1, 3 -> 2/3 for label 0; query 1 gets 2, 3, 1 -> 2/3 for label 1
    assert cosine_precision_at_k(db, db_labels, queries, np.array([0, 1]), k=3) == pytest.approx(2 / 3)
    # k above the database size: everything retrieved, the denominator stays k
    assert cosine_precision_at_k(db, db_labels, queries, np.array([0, 1]), k=8) == pytest.approx(2 / 8)


def test_ties_rank_by_ascending_id():
    db = np.array([[1, 0], [1, 0], [1, 0]], dtype=np.float32)  # all equally similar
    labels = np.array([[1, 0], [0, 1], [0, 1]])
    assert cosine_precision_at_k(db, labels, db[:1], np.array([[1, 0]]), k=1) == 1.0  # id 0 first
    assert cosine_precision_at_k(db, labels, db[:1], np.array([[0, 1]]), k=1) == 0.0


def _oracle(db: np.ndarray, dbl: np.ndarray, q: np.ndarray, ql: np.ndarray, k: int) -> float:
    total = 0.0
    for i in range(len(q)):
        sims = [float(q[i] @ db[j]) / (np.linalg.norm(q[i]) * np.linalg.norm(db[j])) for j in range(len(db))]
        order = sorted(range(len(db)), key=lambda j: (-sims[j], j))[:k]
        total += sum(bool(np.any(ql[i] & dbl[j])) for j in order) / k
    return total / len(q)


@pytest.mark.parametrize("sparse", [False, True])
def test_matches_loop_oracle_on_random_multilabel_data(sparse):
    rng = np.random.default_rng(0)
    db, q = rng.random((60, 7)), rng.random((9, 7))
    dbl, ql = rng.random((60, 4)) < 0.3, rng.random((9, 4)) < 0.3
    want = _oracle(db, dbl, q, ql, 10)
    args = (sp.csr_matrix(db), dbl, sp.csr_matrix(q), ql) if sparse else (db, dbl, q, ql)
    assert cosine_precision_at_k(*args, k=10) == pytest.approx(want)


def test_bad_input():
    with pytest.raises(ValueError, match="columns"):
        cosine_precision_at_k(np.ones((3, 2)), np.zeros(3, int), np.ones((1, 3)), np.zeros(1, int))
    with pytest.raises((ValueError, TypeError), match="k"):
        cosine_precision_at_k(np.ones((3, 2)), np.zeros(3, int), np.ones((1, 2)), np.zeros(1, int), k=0)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("scale", [1e20, 1e-41])
def test_large_and_tiny_rows_keep_their_cosine_order(sparse, scale):
    """#27: float32 norms made finite rows past ~1.8e19 (and subnormal ones) score 0 with everything."""
    from nash_index.evaluation.cosine import cosine_top_k
    rng = np.random.default_rng(4)
    base = rng.standard_normal((50, 6))
    db = (base * scale).astype(np.float32)
    q = (base[:5] + 0.3 * rng.standard_normal((5, 6))) * scale
    q = q.astype(np.float32)
    d64, q64 = db.astype(np.float64), q.astype(np.float64)
    cos = (q64 / np.linalg.norm(q64, axis=1, keepdims=True)) @ (d64 / np.linalg.norm(d64, axis=1, keepdims=True)).T
    expected = np.argsort(-cos, axis=1, kind="stable")[:, :3]
    got = cosine_top_k(sp.csr_matrix(db) if sparse else db, sp.csr_matrix(q) if sparse else q, 3)
    np.testing.assert_array_equal(got, expected)
