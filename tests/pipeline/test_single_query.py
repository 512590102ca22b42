"""The single-query path (a few texts: numpy TF-IDF rows, NumpyEncoder's gathered first layer, no
batch machinery) gives the batch path's results, keeps every argument check, and encoding in
worker processes (n_jobs) gives the one-process codes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from pipeline_checks import QUERIES, corpus  # noqa: F401 (a fixture)

from nash_index.models.numpy_encoder import NumpyEncoder
from nash_index.pipeline import HashingPipeline

pytestmark = [pytest.mark.filterwarnings("ignore:.*have no known term"),
              pytest.mark.filterwarnings("ignore:HashingPipeline.fit without validation data")]
EDGE_QUERIES = ["", "the of and", "zzqx unknownword", "Ünïcödé straße date", "DATE Time PARSE"]


def _search_each_and_all(pipe, queries, k=7):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # queries with no known term
        batch = pipe.search(queries, k=k)
        singles = [pipe.search([q], k=k) for q in queries]
    return batch, singles


def _assert_single_equals_batch(pipe, queries):
    batch, singles = _search_each_and_all(pipe, queries)
    for i, one in enumerate(singles):
        np.testing.assert_array_equal(one.ids[0], batch.ids[i])
        np.testing.assert_array_equal(one.distances[0], batch.distances[i])
        assert one.keys[0] == batch.keys[i]
        assert one.no_known_terms[0] == batch.no_known_terms[i]
    codes = pipe.encode(queries) if queries else None
    for i, q in enumerate(queries):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_array_equal(pipe.encode([q])[0], codes[i])


@pytest.mark.parametrize("hasher", ["itq", "sph", "lsh"])
def test_baseline_single_query_equals_batch_after_load(corpus, hasher, tmp_path):  # noqa: F811
    pipe = HashingPipeline(nbits=32, hasher=hasher, verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    pipe.save(tmp_path / "p")
    loaded = HashingPipeline.load(tmp_path / "p")
    queries = corpus.test_texts[:150] + QUERIES + EDGE_QUERIES
    _assert_single_equals_batch(loaded, queries)
    np.testing.assert_array_equal(loaded.encode(queries), pipe.encode(queries))


def test_nash_single_query_equals_batch_after_load(corpus, tmp_path):  # noqa: F811
    pytest.importorskip("torch")
    pipe = HashingPipeline(nbits=32, hasher="nash", verbose=False, hasher_params={"epochs": 2}).fit(corpus.train_texts)
    pipe.add(corpus.train_texts)
    pipe.save(tmp_path / "p")
    loaded = HashingPipeline.load(tmp_path / "p")  # numpy encoder
    _assert_single_equals_batch(loaded, corpus.test_texts[:150] + QUERIES + EDGE_QUERIES)


def test_checks_are_kept(corpus):  # noqa: F811
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts)
    with pytest.raises(RuntimeError, match="index is empty"):
        pipe.search(["date"], k=3)
    pipe.add(corpus.train_texts[:50])
    with pytest.raises(ValueError, match="k must be"):
        pipe.search(["date"], k=0)
    with pytest.raises(TypeError, match=r"queries\[1\] must be a str"):
        pipe.search(["date", 3], k=3)
    with pytest.raises(ValueError, match="embeddings given to a pipeline that hashes TF-IDF"):
        pipe.search(["date"], embeddings=np.zeros((1, 4)))
    with pytest.raises(ValueError, match="n_jobs"):
        pipe.encode(["date"], n_jobs=0)
    with pytest.raises(TypeError, match="n_jobs"):
        pipe.add(["date"], n_jobs="2")
    with pytest.warns(UserWarning, match="1 of 1 queries have no known term"):
        result = pipe.search(["zzqx"], k=3)
    assert result.no_known_terms.tolist() == [True] and result.ids.shape == (1, 3)
    assert pipe.search("date string", k=2).ids.shape == (1, 2)  # one string is one query


def test_workers_give_the_one_process_codes(corpus):  # noqa: F811
    pipe = HashingPipeline(nbits=32, hasher="itq", verbose=False).fit(corpus.train_texts)
    texts = corpus.train_texts + corpus.test_texts + EDGE_QUERIES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pipe.encode(texts)
        np.testing.assert_array_equal(pipe.encode(texts, n_jobs=2), expected)
        ids = pipe.add(texts, batch_size=97, n_jobs=2)  # many batches, a short last one
    assert ids.tolist() == list(range(len(texts)))
    with pytest.warns(UserWarning, match="have no known term"):  # the no-term mask comes back from the workers
        pipe.encode(texts, n_jobs=2)
    reference = HashingPipeline(nbits=32, hasher="itq", verbose=False).fit(corpus.train_texts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.add(texts)
    _assert_same_search(pipe, reference, corpus.test_texts[:20])


def _assert_same_search(a, b, queries):
    ra, rb = a.search(queries, k=5), b.search(queries, k=5)
    np.testing.assert_array_equal(ra.ids, rb.ids)
    np.testing.assert_array_equal(ra.distances, rb.distances)


def _random_encoder(n_features=300, hidden=(64, 32), nbits=16, seed=0):
    rng = np.random.default_rng(seed)
    widths = (n_features, *hidden)
    layers = [(rng.standard_normal((a, b)).astype(np.float32), rng.standard_normal(b).astype(np.float32))
              for a, b in zip(widths[:-1], widths[1:])]
    head = (rng.standard_normal((widths[-1], nbits)).astype(np.float32), rng.standard_normal(nbits).astype(np.float32))
    return NumpyEncoder(layers, head, rng.standard_normal(nbits).astype(np.float32) * 0.1)


@pytest.mark.parametrize("hidden", [(64, 32), ()])
def test_numpy_encoder_one_row_is_the_plain_product(hidden):
    enc = _random_encoder(hidden=hidden)
    X = sp.random(40, 300, density=0.05, format="csr", dtype=np.float32, random_state=3)
    X = sp.vstack([X, sp.csr_matrix((1, 300), dtype=np.float32)]).tocsr()  # an empty row too
    batch = enc.encode(X)
    for i in range(X.shape[0]):
        row = X[i]
        a = row  # the previous path: every layer a plain product, scipy's for the sparse row
        for W, b in enc.layers:
            a = np.maximum(np.asarray(a @ W) + b, 0.0)
        expected = np.asarray(a @ enc.head[0]) + enc.head[1]
        got = enc.scores(row)
        assert got.dtype == np.float32 and got.shape == (1, enc.nbits)
        np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))  # bitwise
        np.testing.assert_array_equal(enc.encode(row)[0], batch[i])
    unsorted = sp.csr_matrix((np.array([0.5, 2.0], np.float32), np.array([7, 3]), np.array([0, 2])), shape=(1, 300))
    np.testing.assert_array_equal(enc.scores(unsorted), enc.scores(unsorted.toarray()))
