"""rescore: Hamming candidates re-ranked by exact cosine, against a numpy oracle."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni


def oracle(cand_ids, query_vectors, vectors, k):
    """Cosine of each candidate, best first, ties by id (computed independently, in float64)."""
    out = []
    for q, row in enumerate(cand_ids):
        row = row[row >= 0]
        v = vectors[row].astype(np.float64)
        qv = query_vectors[q].astype(np.float64)
        sims = v @ qv / (np.linalg.norm(v, axis=1) * np.linalg.norm(qv))
        ranked = sorted(zip(-sims, row))[:k]
        out.append([int(i) for _, i in ranked])
    return out


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2000, 32)).astype(np.float32)
    codes = ni.binarize(vectors)
    index = ni.FlatIndex(32)
    index.add(codes)
    queries = vectors[:20] + 0.3 * rng.standard_normal((20, 32)).astype(np.float32)
    return index, vectors, queries, ni.binarize(queries)


@pytest.mark.parametrize("candidates", [None, 10, 100])
def test_rescore_orders_the_hamming_candidates_by_cosine(data, candidates):
    index, vectors, queries, qcodes = data
    k = 10
    result = ni.rescore(index, qcodes, queries, vectors, k, candidates=candidates)
    cand = index.search(qcodes, candidates or 4 * k).ids
    assert result.ids.tolist() == oracle(cand, queries, vectors, k)
    assert np.all(np.diff(result.scores, axis=1) <= 1e-6)  # descending
    assert set(result.ids[0]) <= set(cand[0])


def test_more_candidates_approach_the_float_ranking(data):
    index, vectors, queries, qcodes = data
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ unit.T), axis=1)[:, :10]

    def recall(ids):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact)])

    plain = recall(index.search(qcodes, 10).ids)
    wide = recall(ni.rescore(index, qcodes, queries, vectors, 10, candidates=2000).ids)
    assert wide == 1.0 and plain < wide  # every code is a candidate: the float ranking itself


def test_padding_when_fewer_candidates_than_k():
    index = ni.FlatIndex(8)
    index.add(ni.binarize(np.array([[1.0] * 8, [-1.0] * 8], np.float32)))
    vectors = np.array([[1.0] * 8, [-1.0] * 8], np.float32)
    result = ni.rescore(index, ni.binarize(vectors[:1]), vectors[:1], vectors, 3, candidates=5)
    assert result.ids.tolist() == [[0, 1, -1]]
    assert result.scores[0, 0] == pytest.approx(1.0) and result.scores[0, 2] == -np.inf


@pytest.mark.parametrize("change, fragment", [
    (dict(k=0), "k must be"),
    (dict(candidates=5), "candidates must be >= k"),
    (dict(vectors=np.zeros((10, 32), np.float32)), "row i of vectors must be the vector of id i"),
    (dict(vectors=np.zeros((2000, 16), np.float32)), "dimensions"),
    (dict(query_vectors=np.full((20, 32), np.nan, np.float32)), "NaN"),
    (dict(query_vectors=np.zeros((20, 32), np.int64)), "float array"),
    (dict(query_vectors=np.zeros((3, 32), np.float32)), "rows"),
])
def test_bad_arguments_are_named(data, change, fragment):
    index, vectors, queries, qcodes = data
    args = dict(k=10, candidates=None, vectors=vectors, query_vectors=queries)
    args.update(change)
    with pytest.raises(ValueError, match=fragment):
        ni.rescore(index, qcodes, args["query_vectors"], args["vectors"], args["k"], candidates=args["candidates"])


# ---- #27 defect 6: norms in float64 of max-scaled rows, never float32 ------------------------------
@pytest.mark.parametrize("scale", [1e20, 1e30, 1e-42, 1e-39])
def test_rescore_keeps_the_cosine_order_of_large_and_tiny_vectors(scale):
    """Finite float32 vectors with entries past ~1.8e19 had an infinite float32 norm (every cosine
    0: the candidates came back in id order); subnormal ones a zero norm."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((300, 16))
    vectors = (base * scale).astype(np.float32)
    assert np.isfinite(vectors).all() and np.abs(vectors).max() > 0
    queries = (base[:6] + 0.5 * rng.standard_normal((6, 16))) * scale
    queries = queries.astype(np.float32)
    index = ni.FlatIndex(16)
    index.add(ni.binarize(base.astype(np.float32)))
    qcodes = ni.binarize(queries.astype(np.float64) / scale)
    result = ni.rescore(index, qcodes, queries, vectors, 10, candidates=300)  # every vector a candidate
    cand = index.search(qcodes, 300).ids
    assert result.ids.tolist() == oracle(cand, queries, vectors, 10)
    assert np.isfinite(result.scores).all() and (result.scores[:, 0] > 0.3).all()


def test_rescore_of_float64_vectors_beyond_float32():
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((100, 8)) * 1e300  # float64; a float32 cast would be inf
    queries = vectors[:4] + rng.standard_normal((4, 8)) * 1e299
    index = ni.FlatIndex(8)
    index.add(ni.binarize(vectors / 1e300))
    qcodes = ni.binarize(queries / 1e300)
    result = ni.rescore(index, qcodes, queries, vectors, 5, candidates=100)
    # the oracle's own float64 norms would overflow: it gets the same directions, scaled down
    assert result.ids.tolist() == oracle(index.search(qcodes, 100).ids, queries / 1e300, vectors / 1e300, 5)


def test_unit_rows_of_extreme_rows_dense_and_sparse():
    import scipy.sparse as sp

    from nash_index.checks import unit_rows
    rows = np.array([[3e20, 4e20, 0], [3e-42, 0, 4e-42], [0, 0, 0], [1e300, -1e300, 0]])
    for given in (rows[:3].astype(np.float32), rows):
        exact = given.astype(np.float64) / np.abs(given).max(axis=1, keepdims=True).clip(1e-320)  # scaled: no overflow
        exact[2] = 0  # the zero row (0 / tiny above is 0 already; spelled out)
        expected = exact / np.linalg.norm(exact, axis=1, keepdims=True).clip(1e-300)
        assert np.abs(expected[0, :2] - [0.6, 0.8]).max() < 1e-6
        np.testing.assert_allclose(unit_rows(given), expected, atol=1e-6)
        out = unit_rows(sp.csr_matrix(given))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.toarray(), expected, atol=1e-6)


def test_a_huge_candidate_count_is_capped_by_the_index_size(data):
    """More candidates than codes only pads the rows: answered as if every code were one."""
    index, vectors, queries, qcodes = data
    huge = ni.rescore(index, qcodes, queries, vectors, 5, candidates=2**40)
    every = ni.rescore(index, qcodes, queries, vectors, 5, candidates=index.ntotal)
    np.testing.assert_array_equal(huge.ids, every.ids)
