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
