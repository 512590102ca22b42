"""Hostile inputs to HashingPipeline (#12): queries with no known term are marked and warned
about, negative ids are refused, texts that are not strings are named by position, bad
arguments get errors that name them."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from pipeline_checks import corpus, lsh_pipe  # noqa: E402, F401 (fixtures)

import nash_index as ni  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

NO_TERMS = ["", "the of and is", "zzzz qqqq", "   \n\t ", "!!! ???"]


@pytest.fixture
def fresh(corpus):
    return HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts)


def _no_warning(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


# ---- queries with no known term ------------------------------------------------------------------
def test_search_marks_and_warns_queries_without_known_terms(lsh_pipe):
    queries = ["parse a date string", *NO_TERMS, "compress data with gzip"]
    with pytest.warns(UserWarning, match=r"search: 5 of 7 queries have no known term.*#1 ''.*#2 'the of and is'") as rec:
        res = lsh_pipe.search(queries, k=4)
    assert len(rec) == 1 and "and 2 more" in str(rec[0].message)
    assert res.no_known_terms.dtype == bool
    assert res.no_known_terms.tolist() == [False, True, True, True, True, True, False]
    # the rows are kept (their code is a valid code: the empty text's), all identical
    assert np.all(res.ids[1:6] >= 0) and all(row == res.ids[1].tolist() for row in res.ids[1:6].tolist())
    assert len(res.hits(1)) == 4


def test_search_of_known_terms_does_not_warn(lsh_pipe):
    res = _no_warning(lambda: lsh_pipe.search(["parse a date string", "regular expression"], k=3))
    assert res.no_known_terms.tolist() == [False, False]


def test_encode_and_add_warn_about_texts_without_known_terms(fresh):
    with pytest.warns(UserWarning, match=r"encode: 1 of 2 texts have no known term.*#1 'zzzz'"):
        codes = fresh.encode(["date string", "zzzz"])
    assert codes.shape == (2, 2)
    with pytest.warns(UserWarning, match=r"add: 2 of 3 texts .*#0 ''.*#2 'the'.*indexed under one"):
        ids = fresh.add(["", "parse a date", "the"])
    assert ids.tolist() == [0, 1, 2] and fresh.ntotal == 3
    long_unknown = "qqq " * 1000
    with pytest.warns(UserWarning) as rec:
        fresh.encode([long_unknown])
    assert len(str(rec[0].message)) < 400  # an excerpt, not the whole text


# ---- ids ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ids", [[-1, 5], [3, -2], np.array([-1, 0], dtype=np.int64)])
def test_negative_ids_are_refused_by_add(fresh, ids):
    """-1 pads search results: search dropped a real document with id -1 (#12)."""
    with pytest.raises(ValueError, match=r"ids must be >= 0.*position"):
        fresh.add(["parse a date", "gzip data"], ids=ids)
    assert fresh.ntotal == 0 and fresh.index is None


def test_attach_index_refuses_negative_ids(fresh):
    with pytest.raises(TypeError, match="index must be a nash_index index"):
        fresh.attach_index("index.nidx")
    codes = fresh.encode(["parse a date", "gzip data"])
    index = ni.FlatIndex(16)
    # An index never holds a negative id (add and load refuse them), so none can reach attach_index.
    with pytest.raises(ValueError, match="ids must be >= 0"):
        index.add(codes, np.array([-1, 4]))
    fresh.attach_index(index)
    assert fresh.index is index and fresh.ntotal == 0


# ---- texts that are not strings ----------------------------------------------------------------------
BAD_TEXTS = [
    (["a", None], r"\[1\] must be a str, got NoneType"),
    (["a", "b", b"bytes"], r"\[2\] must be a str, got bytes"),
    ([3.5], r"\[0\] must be a str, got float"),
    (None, " must be a sequence of strings, got NoneType"),
    (42, " must be a sequence of strings, got int"),
    (b"raw bytes", " must be a sequence of strings, not one bytes"),
]


@pytest.mark.parametrize("texts, fragment", BAD_TEXTS)
def test_bad_texts_are_named_by_position(lsh_pipe, fresh, corpus, texts, fragment):
    """Was sklearn's AttributeError ('NoneType' object has no attribute 'lower')."""
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False)
    with pytest.raises(TypeError, match="texts" + fragment):
        pipe.fit(texts)
    if texts is not None:  # val_texts=None means: no validation texts
        with pytest.raises(TypeError, match="val_texts" + fragment):
            pipe.fit(corpus.train_texts, val_texts=texts)
    for call in (fresh.encode, fresh.transform, fresh.add):
        with pytest.raises(TypeError, match="texts" + fragment):
            call(texts)
    with pytest.raises(TypeError, match="queries" + fragment):
        lsh_pipe.search(texts)
    assert fresh.ntotal == 0


def test_one_string_is_still_one_query_for_search(lsh_pipe):
    assert lsh_pipe.search("parse a date string", k=2).ids.shape == (1, 2)
    with pytest.raises(TypeError, match="not one str"):
        lsh_pipe.encode("parse a date string")


# ---- other arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"k": 0}, ValueError, "k must be > 0"),
    ({"k": 2.5}, TypeError, "k must be an int"),
    ({"k": True}, TypeError, "k must be an int"),
    ({"num_threads": 0}, ValueError, "num_threads"),
])
def test_search_argument_errors(lsh_pipe, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        lsh_pipe.search(["date"], **kwargs)


def test_huge_k_is_a_clear_error(lsh_pipe, monkeypatch):
    """k is bounded by memory only; running out of it names k (not numpy's array shape alone)."""
    with pytest.raises((MemoryError, ValueError), match=r"\bk\b|k="):
        lsh_pipe.search(["date"], k=10**11)

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 373. GiB")

    monkeypatch.setattr(lsh_pipe.index, "search", no_memory)
    with pytest.raises(MemoryError, match=r"search: k=5000 neighbours for 2 queries.*373. GiB"):
        lsh_pipe.search(["date", "gzip"], k=5000)


def test_empty_query_list_gives_an_empty_result(lsh_pipe):
    res = _no_warning(lambda: lsh_pipe.search([], k=3))
    assert res.ids.shape == (0, 3) and res.no_known_terms.shape == (0,) and len(res) == 0


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"max_features": "10"}, TypeError, "max_features"),
    ({"min_df": 1.5}, TypeError, "min_df"),
    ({"max_df": "0.5"}, TypeError, "max_df"),
    ({"validation_fraction": "0.1"}, TypeError, "validation_fraction"),
    ({"seed": "a"}, TypeError, "seed"),
    ({"hasher_params": [1]}, TypeError, "hasher_params"),
])
def test_constructor_argument_errors(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        HashingPipeline(**kwargs)


def test_unknown_hasher_params_are_named(corpus):
    with pytest.raises(TypeError, match="hasher_params do not fit the 'lsh' hasher.*bogus"):
        HashingPipeline(nbits=16, hasher="lsh", hasher_params={"bogus": 1}).fit(corpus.train_texts)


def test_add_argument_errors(fresh):
    with pytest.raises(TypeError, match="keys must be a sequence"):
        fresh.add(["a date"], keys="title")
    with pytest.raises(ValueError, match=r"keys\[0\] cannot be stored: it is not valid Unicode"):
        fresh.add(["a date"], keys=["title\ud800"])  # a lone surrogate has no UTF-8 form
    with pytest.raises(ValueError, match="batch_size"):
        fresh.add(["a date"], batch_size=0)
    with pytest.raises(TypeError, match="doc_id"):
        fresh.key_of("x")
    assert fresh.ntotal == 0


def test_unicode_and_very_long_texts(lsh_pipe):
    texts = ["Größe der Datei ✓ parse date", "日本語のテキスト date", "date " * 100_000, "\x00 date \ud800"]
    res = _no_warning(lambda: lsh_pipe.search(texts, k=2))
    assert res.ids.shape == (4, 2) and not res.no_known_terms.any()


def test_one_document_corpus(corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(["a single document about dates"])
    pipe.add(["a single document about dates"])
    res = pipe.search(["a single document about dates", "dates"], k=3)
    assert res.ids.tolist() == [[0, -1, -1], [0, -1, -1]] and res.hits(0) == [("0", 0, 0)]


# ---- state after errors ------------------------------------------------------------------------
def test_refit_of_an_indexed_pipeline_is_refused(fresh, corpus):
    """Refitting changed the vocabulary and model under codes already indexed: silent garbage."""
    fresh.add(corpus.train_texts[:10])
    with pytest.raises(RuntimeError, match="indexes 10 documents.*reset"):
        fresh.fit(corpus.train_texts)
    fresh.reset()
    fresh.fit(corpus.train_texts[:50])
    assert fresh.ntotal == 0 and fresh.is_fitted


def test_failed_fit_keeps_the_previous_model(corpus):
    pipe = HashingPipeline(nbits=16, hasher="itq", verbose=False).fit(corpus.train_texts)
    before = pipe.encode(["parse a date string"])
    n_features = pipe.vectorizer.n_features
    with pytest.raises(ValueError, match="principal components"):
        pipe.fit(["only two documents here", "and another one"])  # too few for 16 PCA directions
    assert pipe.vectorizer.n_features == n_features
    np.testing.assert_array_equal(pipe.encode(["parse a date string"]), before)


def test_failed_add_leaves_no_trace(fresh):
    fresh.add(["parse a date"], ids=[7])
    for kwargs in ({"ids": [7, 8]}, {"ids": [8, -1]}, {"keys": ["a"]}, {"keys": ["a", "b\ud800"]}):
        with pytest.raises(ValueError):
            fresh.add(["gzip data", "csv rows"], **kwargs)
    assert fresh.ntotal == 1 and fresh.index.ids().tolist() == [7] and fresh.documents.mismatch() is None
    assert [fresh.key_of(i) for i in (7, 8)] == ["7", None]
