"""The TF-IDF vectorizer (nash_index.text.vectorizer) against scikit-learn: the fitted vocabulary and
rows equal TfidfVectorizer's; idf_weights / tfidf_rows equal TfidfTransformer's (float32 tolerance)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn")

from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer  # noqa: E402

from nash_index.text.vectorizer import (  # noqa: E402
    TextVectorizer,
    VectorizerParams,
    check_texts,
    count_vectorizer,
    idf_weights,
    tfidf_rows,
)

QUERIES = ["parse a date string", "compress data with gzip", "zzzz unknown words only"]

SMALL = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs and cats",
         "a log is not a mat", "dogs chase cats; cats chase mice", "mice eat cheese and the cat eats mice",
         "zebra"]


@pytest.fixture(scope="module")
def corpus(docstring_raw):
    return docstring_raw


def test_idf_and_tfidf_rows_equal_sklearn_transformer():
    counts = CountVectorizer(stop_words=None).fit_transform(SMALL)
    ref = TfidfTransformer()  # smooth_idf=True, norm="l2", sublinear_tf=False: the documented weighting
    expected = ref.fit_transform(counts).toarray()
    idf = idf_weights(counts)
    assert idf.dtype == np.float32 and idf.shape == (counts.shape[1],)
    np.testing.assert_allclose(idf, ref.idf_, rtol=1e-6)
    rows = tfidf_rows(counts, idf)
    assert sp.isspmatrix_csr(rows) and rows.dtype == np.float32
    np.testing.assert_allclose(rows.toarray(), expected, rtol=1e-5, atol=1e-6)
    # by hand for one term: ln((1 + n) / (1 + df)) + 1
    n, df = counts.shape[0], np.asarray((counts > 0).sum(axis=0)).ravel()
    np.testing.assert_allclose(idf, np.log((1 + n) / (1 + df)) + 1, rtol=1e-6)


def test_tfidf_rows_on_unseen_documents_and_zero_rows():
    counter = CountVectorizer().fit(SMALL)
    ref = TfidfTransformer().fit(counter.transform(SMALL))
    idf = idf_weights(counter.transform(SMALL))
    unseen = ["cat cat dog", "nothing known here", "mice cheese zebra zebra"]
    got = tfidf_rows(counter.transform(unseen), idf).toarray()
    np.testing.assert_allclose(got, ref.transform(counter.transform(unseen)).toarray(), rtol=1e-5, atol=1e-6)
    assert not got[1].any()  # no known term: a zero row, not NaN
    np.testing.assert_allclose(np.linalg.norm(got[[0, 2]], axis=1), 1.0, rtol=1e-6)


def test_count_vectorizer_uses_the_fixed_vocabulary():
    cv = count_vectorizer(vocabulary={"cat": 0, "mat": 1})
    counts = cv.transform(["the cat sat on the mat cat"])
    assert counts.dtype == np.float32 and counts.toarray().tolist() == [[2.0, 1.0]]


def test_check_texts():
    assert check_texts(("a", "b")) == ["a", "b"]
    assert check_texts([], allow_empty=True) == []
    with pytest.raises(ValueError, match="at least one text"):
        check_texts([])
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got int"):
        check_texts(["a", 3])
    with pytest.raises(ValueError, match="max_df"):
        VectorizerParams(max_df=0.0)
    assert VectorizerParams().resolved_min_df(10) == 1 and VectorizerParams().resolved_min_df(1000) == 3


def test_vectorizer_matches_sklearn_tfidf(corpus):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TextVectorizer(VectorizerParams(min_df=2)).fit(corpus.train_texts)
    ref = TfidfVectorizer(stop_words="english", min_df=2, max_df=0.8, max_features=10000).fit(corpus.train_texts)
    assert vec.terms == ref.get_feature_names_out().tolist()
    np.testing.assert_allclose(vec.transform(corpus.test_texts).toarray(),
                               ref.transform(corpus.test_texts).toarray(), rtol=1e-5, atol=1e-6)


def test_vectorizer_save_load(tmp_path, corpus):
    vec = TextVectorizer().fit(corpus.train_texts)
    vec.save(tmp_path / "v.npz")
    back = TextVectorizer.load(tmp_path / "v.npz", vec.to_manifest())
    assert (back.transform(QUERIES) != vec.transform(QUERIES)).nnz == 0


def test_vectorizer_errors():
    with pytest.raises(ValueError, match="vocabulary"):
        TextVectorizer().fit(["the and of", "a an the"])  # stop words only
    with pytest.raises(TypeError, match="not one str"):
        TextVectorizer().fit("one string")
