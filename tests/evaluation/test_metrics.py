"""Retrieval metrics: hand-checked tiny cases and randomized checks against pure-numpy oracles."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.evaluation import mean_average_precision, precision_at_k, precision_recall_within_radius


def codes8(*values: int) -> np.ndarray:
    """One-byte codes; the Hamming distance to 0x00 is the popcount of the value."""
    return np.asarray(values, dtype=np.uint8)[:, None]


def onehot(rows, n_labels: int) -> np.ndarray:
    out = np.zeros((len(rows), n_labels), dtype=bool)
    for i, labs in enumerate(rows):
        out[i, list(labs)] = True
    return out


# ----------------------------------------------------------------------------- independent oracles


def oracle_dist(db: np.ndarray, q: np.ndarray) -> np.ndarray:
    bits_db = np.unpackbits(db, axis=1).astype(np.int64)
    bits_q = np.unpackbits(q, axis=1).astype(np.int64)
    # |a - b| summed over bits, via matrix products (no xor/popcount as in the index)
    return bits_q @ (1 - bits_db).T + (1 - bits_q) @ bits_db.T


def oracle_relevance(dbl: np.ndarray, ql: np.ndarray) -> np.ndarray:
    return (ql.astype(int) @ dbl.astype(int).T) > 0


def oracle_precision_index_order(db, dbl, q, ql, k):
    d, rel = oracle_dist(db, q), oracle_relevance(dbl, ql)
    out = []
    for i in range(q.shape[0]):
        order = sorted(range(db.shape[0]), key=lambda j: (d[i, j], j))[:k]
        out.append(rel[i, order].sum() / k)
    return np.asarray(out)


def oracle_precision_expected(db, dbl, q, ql, k):
    """Probability of inclusion per document: 1 if strictly closer than the k-th, s/m in the tied block."""
    d, rel = oracle_dist(db, q), oracle_relevance(dbl, ql)
    out = []
    for i in range(q.shape[0]):
        if k >= db.shape[0]:
            out.append(rel[i].sum() / k)
            continue
        kth = np.sort(d[i])[k - 1]
        closer = d[i] < kth
        tied = d[i] == kth
        p = closer.astype(float) + tied * (k - closer.sum()) / tied.sum()
        out.append((p * rel[i]).sum() / k)
    return np.asarray(out)


def oracle_expected_by_enumeration(db, dbl, q, ql, k):
    """Average the top-k precision over every ordering of the database used as the tie breaker."""
    d, rel = oracle_dist(db, q), oracle_relevance(dbl, ql)
    n = db.shape[0]
    out = []
    for i in range(q.shape[0]):
        total, count = 0.0, 0
        for perm in itertools.permutations(range(n)):
            prio = np.empty(n, dtype=int)
            prio[list(perm)] = np.arange(n)
            top = sorted(range(n), key=lambda j: (d[i, j], prio[j]))[:k]
            total += rel[i, top].sum() / k
            count += 1
        out.append(total / count)
    return np.asarray(out)


# ----------------------------------------------------------------------------- precision@k by hand


def test_ties_hand_checked():
    # distances to the query 0x00: ids 0..5 -> 0, 1, 1, 1, 2, 3
    db = codes8(0x00, 0x01, 0x02, 0x04, 0x03, 0x07)
    dbl = onehot([[0], [1], [0], [0], [0], [1]], 2)
    q, ql = codes8(0x00), onehot([[0]], 2)
    res = precision_at_k(db, dbl, q, ql, k=2)
    # index order: ids 0 (relevant) and 1 (not) -> 1/2
    assert res.index_order == pytest.approx(0.5)
    # expected: id 0 surely, then 1 slot for the block {1, 2, 3} holding 2 relevant -> (1 + 2/3) / 2
    assert res.expected == pytest.approx((1 + 2 / 3) / 2)
    p_index, p_expected = res
    assert (p_index, p_expected) == (res.index_order, res.expected)


def test_tie_block_fully_inside_k_has_no_randomness():
    db = codes8(0x00, 0x01, 0x02, 0x03)
    dbl = onehot([[0], [1], [0], [0]], 2)
    res = precision_at_k(db, dbl, codes8(0x00), onehot([[0]], 2), k=3)
    # block at distance 1 (ids 1, 2) fits exactly: both rules retrieve ids 0, 1, 2
    assert res.index_order == pytest.approx(2 / 3)
    assert res.expected == pytest.approx(2 / 3)


def test_multi_label_relevance_is_label_intersection():
    db = codes8(0x00, 0x00, 0x00)
    dbl = onehot([[1, 2], [2], [0]], 3)   # shares label 1 / shares nothing / shares label 0
    ql = onehot([[0, 1]], 3)
    res = precision_at_k(db, dbl, codes8(0x00), ql, k=3)
    assert res.index_order == pytest.approx(2 / 3)
    assert res.expected == pytest.approx(2 / 3)


def test_query_without_labels_scores_zero_and_counts():
    db = codes8(0x00, 0x01)
    dbl = onehot([[0], [0]], 1)
    q = codes8(0x00, 0x00)
    ql = onehot([[0], []], 1)
    res = precision_at_k(db, dbl, q, ql, k=2)
    np.testing.assert_allclose(res.per_query_index_order, [1.0, 0.0])
    assert res.index_order == pytest.approx(0.5)
    assert res.expected == pytest.approx(0.5)


def test_k_larger_than_database_keeps_denominator_k():
    db = codes8(0x00, 0xFF, 0x0F)
    dbl = onehot([[0], [0], [1]], 2)
    res = precision_at_k(db, dbl, codes8(0x00), onehot([[0]], 2), k=5)
    assert res.index_order == pytest.approx(2 / 5)
    assert res.expected == pytest.approx(2 / 5)
    assert res.k == 5


def test_one_dimensional_class_labels_match_indicator_matrix():
    rng = np.random.default_rng(3)
    db = rng.integers(0, 256, (60, 2), dtype=np.uint8)
    q = rng.integers(0, 256, (9, 2), dtype=np.uint8)
    y_db, y_q = rng.integers(0, 4, 60), rng.integers(-1, 4, 9)   # -1: no label
    ind_db = onehot([[c] for c in y_db], 4)
    ind_q = onehot([[c] if c >= 0 else [] for c in y_q], 4)
    a = precision_at_k(db, y_db, q, y_q, k=7)
    b = precision_at_k(db, sp.csr_matrix(ind_db), q, ind_q, k=7)
    assert (a.index_order, a.expected) == pytest.approx((b.index_order, b.expected))


# ----------------------------------------------------------------------------- randomized vs oracles


@pytest.mark.parametrize("seed, n_lab", [(0, 1), (1, 3), (2, 5), (3, 4), (4, 64), (5, 65), (6, 150)])
def test_precision_matches_numpy_oracle(seed, n_lab):
    """Label counts past 64 take the multi-word path of the packed label masks."""
    rng = np.random.default_rng(seed)
    nbytes = int(rng.integers(1, 3))
    n_db, n_q = int(rng.integers(30, 200)), int(rng.integers(1, 25))
    # few distinct codes -> many ties at the boundary
    pool = rng.integers(0, 256, (12, nbytes), dtype=np.uint8)
    db = pool[rng.integers(0, 12, n_db)]
    q = rng.integers(0, 256, (n_q, nbytes), dtype=np.uint8)
    density = min(0.3, 2.0 / n_lab)  # some pairs share no label, whatever the label count
    dbl = rng.random((n_db, n_lab)) < density
    ql = rng.random((n_q, n_lab)) < density
    for k in (1, 10, n_db - 1, n_db, n_db + 5):
        res = precision_at_k(db, dbl, q, ql, k=k)
        np.testing.assert_allclose(res.per_query_index_order, oracle_precision_index_order(db, dbl, q, ql, k))
        np.testing.assert_allclose(res.per_query_expected, oracle_precision_expected(db, dbl, q, ql, k))


@pytest.mark.parametrize("seed", range(3))
def test_expected_precision_equals_average_over_all_tie_orders(seed):
    rng = np.random.default_rng(100 + seed)
    db = codes8(*rng.choice([0x00, 0x01, 0x02, 0x03], size=6))   # distances 0, 1, 1, 2 only
    dbl = rng.random((6, 2)) < 0.5
    q, ql = codes8(0x00, 0x01), rng.random((2, 2)) < 0.7
    for k in (1, 2, 3, 4):
        res = precision_at_k(db, dbl, q, ql, k=k)
        np.testing.assert_allclose(res.per_query_expected, oracle_expected_by_enumeration(db, dbl, q, ql, k))


def test_index_rule_breaks_ties_by_id_and_can_differ_from_expected():
    # 4 tied documents; relevant ones come last in id order, so index order sees none of them
    db = codes8(0x01, 0x02, 0x04, 0x08)
    dbl = onehot([[1], [1], [0], [0]], 2)
    res = precision_at_k(db, dbl, codes8(0x00), onehot([[0]], 2), k=2)
    assert res.index_order == 0.0
    assert res.expected == pytest.approx(0.5)


# ----------------------------------------------------------------------------- mAP and radius


def test_map_hand_checked():
    db = codes8(0x00, 0x01, 0x03)          # ranked 0, 1, 2 by distance
    dbl = onehot([[0], [1], [0]], 2)       # relevance pattern 1, 0, 1
    assert mean_average_precision(db, dbl, codes8(0x00), onehot([[0]], 2)) == pytest.approx((1 + 2 / 3) / 2)
    # mAP@2: only the first relevant is in the top 2 -> AP = 1
    assert mean_average_precision(db, dbl, codes8(0x00), onehot([[0]], 2), k=2) == pytest.approx(1.0)
    # a query with nothing relevant scores 0 in the mean
    two = mean_average_precision(db, dbl, codes8(0x00, 0x00), onehot([[0], []], 2))
    assert two == pytest.approx((1 + 2 / 3) / 4)


def test_map_matches_oracle():
    rng = np.random.default_rng(7)
    db = rng.integers(0, 256, (80, 1), dtype=np.uint8)
    q = rng.integers(0, 256, (10, 1), dtype=np.uint8)
    dbl, ql = rng.random((80, 3)) < 0.3, rng.random((10, 3)) < 0.5
    d, rel = oracle_dist(db, q), oracle_relevance(dbl, ql)
    aps = []
    for i in range(10):
        order = np.lexsort((np.arange(80), d[i]))
        r = rel[i, order]
        hits = np.flatnonzero(r)
        aps.append(np.mean([(j + 1) / (pos + 1) for j, pos in enumerate(hits)]) if hits.size else 0.0)
    assert mean_average_precision(db, dbl, q, ql) == pytest.approx(np.mean(aps))


def test_precision_recall_within_radius_hand_checked():
    db = codes8(0x00, 0x01, 0x03, 0x07, 0x0F)   # distances 0..4
    dbl = onehot([[0], [1], [0], [0], [0]], 2)
    ql = onehot([[0], [1]], 2)
    # query 0 (0x00): within 2 -> ids 0, 1, 2; relevant 0, 2 -> P = 2/3; relevant in db 4 -> R = 2/4
    # query 1 (0xFF): nothing within 2 (nearest is 0x0F at 4) -> P = 0, R = 0
    res = precision_recall_within_radius(db, dbl, codes8(0x00, 0xFF), ql, radius=2)
    np.testing.assert_allclose(res.per_query_precision, [2 / 3, 0.0])
    np.testing.assert_allclose(res.per_query_recall, [0.5, 0.0])
    assert tuple(res) == pytest.approx((1 / 3, 0.25))


def test_radius_zero_and_full():
    db = codes8(0x00, 0x00, 0xF0)
    dbl = onehot([[0], [1], [0]], 2)
    res0 = precision_recall_within_radius(db, dbl, codes8(0x00), onehot([[0]], 2), radius=0)
    assert tuple(res0) == pytest.approx((0.5, 0.5))
    res8 = precision_recall_within_radius(db, dbl, codes8(0x00), onehot([[0]], 2), radius=8)
    assert tuple(res8) == pytest.approx((2 / 3, 1.0))


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    db, dbl = codes8(0, 1), onehot([[0], [0]], 1)
    q, ql = codes8(0), onehot([[0]], 1)
    with pytest.raises(TypeError, match="uint8"):
        precision_at_k(db.astype(np.int32), dbl, q, ql)
    with pytest.raises(ValueError, match="bytes per code"):
        precision_at_k(db, dbl, np.zeros((1, 2), np.uint8), ql)
    with pytest.raises(ValueError, match="rows"):
        precision_at_k(db, dbl[:1], q, ql)
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(db, dbl, q, ql, k=0)
    with pytest.raises(TypeError, match="k must be"):
        precision_at_k(db, dbl, q, ql, k=2.0)
    with pytest.raises(ValueError, match="empty"):
        precision_at_k(np.zeros((0, 1), np.uint8), np.zeros((0, 1), bool), q, ql)
    with pytest.raises(ValueError, match="radius"):
        precision_recall_within_radius(db, dbl, q, ql, radius=-1)


def test_retrieval_goes_through_flat_index(monkeypatch):
    import nash_index.evaluation.metrics as ev

    calls = []

    class Spy(ev.FlatIndex):
        def search(self, queries, k, **kw):
            calls.append(("search", k))
            return super().search(queries, k, **kw)

        def range_search(self, queries, radius, **kw):
            calls.append(("range", radius))
            return super().range_search(queries, radius, **kw)

    monkeypatch.setattr(ev, "FlatIndex", Spy)
    db = codes8(0x00, 0x01, 0x02, 0x04)
    precision_at_k(db, onehot([[0]] * 4, 1), codes8(0x00), onehot([[0]], 1), k=2)
    assert ("search", 2) in calls and ("range", 1) in calls


def test_precision_at_k_repr_is_short_and_keeps_the_per_query_values():
    rng = np.random.default_rng(0)
    db = rng.integers(0, 256, (500, 2), dtype=np.uint8)
    p = precision_at_k(db, rng.integers(0, 3, 500), db[:300], rng.integers(0, 3, 300), 10)
    assert repr(p) == (f"PrecisionAtK(k=10, index_order={p.index_order:.4f}, expected={p.expected:.4f}, "
                       "queries=300)")
    assert p.per_query_index_order.shape == (300,)  # still there, only left out of the repr
