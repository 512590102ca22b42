"""TextVectorizer.transform (TermCounter + the numpy path for a few texts) against scikit-learn:
the rows must equal, bitwise (indices, values and their order), those of scikit-learn's
CountVectorizer with the fitted vocabulary followed by tfidf_rows, on every corpus the project
reads and on hand-made edge cases (unicode, empty texts, stop words, unknown words)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn")

from nash_index.text.term_counts import TermCounter  # noqa: E402
from nash_index.text.vectorizer import FEW_TEXTS, TextVectorizer, count_vectorizer, tfidf_rows  # noqa: E402

EDGE_TEXTS = [
    "", " ", "\n\t", "the of and to", "zzqx qqqzz unknown-ish", "a b c d", "x", "__ _x_ 9 99 a1 1a",
    "Ünïcödé straße İstanbul ǅungla naïve café ΣΊΣΥΦΟΣ Ωμέγα", "日本語のテキスト 中文 한국어", "é", "ﬁnance ﬂow",
    "THE CAT Sat on THE mat; cats, dogs & mice!", "don't can't won't it's", "e-mail e_mail email EMAIL",
    "tab\tseparated\x0bvertical\x0cfeed\rreturn", "zero\x00byte\x01ctrl", "emoji 😀 text 😀😀", "nbsp\u00a0word",
    "digits 123 4567 3.14 1,000", "mixed Ascii and ünicode in one text ascii",
]


def _reference_rows(vec: TextVectorizer, texts):
    """What TextVectorizer.transform returned before TermCounter: scikit-learn's counts + tfidf_rows."""
    counter = count_vectorizer(stop_words=vec.params.stop_words, vocabulary={t: i for i, t in enumerate(vec.terms)})
    return tfidf_rows(counter.transform(texts), vec.idf)


def assert_identical(got: sp.csr_matrix, expected: sp.csr_matrix) -> None:
    assert sp.isspmatrix_csr(got) and got.shape == expected.shape
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data.view(np.uint32), expected.data.view(np.uint32))  # bitwise


def _check_corpus(vec: TextVectorizer, texts) -> None:
    texts = list(texts) + EDGE_TEXTS
    expected = _reference_rows(vec, texts)
    assert_identical(vec.transform(texts), expected)                       # the batch path
    step = max(1, len(texts) // 300)
    for i in list(range(0, len(texts), step)) + list(range(len(texts) - len(EDGE_TEXTS), len(texts))):
        assert_identical(vec.transform([texts[i]]), expected[i])           # one text
    assert_identical(vec.transform(texts[:FEW_TEXTS]), expected[:FEW_TEXTS])  # a few texts at once
    canonical = expected[:FEW_TEXTS + 3].copy()
    canonical.sort_indices()
    assert_identical(vec.transform(texts[:FEW_TEXTS], canonical=True), canonical[:FEW_TEXTS])
    assert_identical(vec.transform(texts[:FEW_TEXTS + 3], canonical=True), canonical)


def test_identical_on_docstrings(docstring_raw):
    vec = TextVectorizer().fit(docstring_raw.train_texts)
    _check_corpus(vec, docstring_raw.test_texts + docstring_raw.train_texts[:500])


@pytest.mark.parametrize("name", ["reuters", "20ng"])
def test_identical_on_real_corpora(shared_data_dir, name):
    from nash_index.datasets import load_raw

    raw = load_raw(name, shared_data_dir)
    vec = TextVectorizer().fit(raw.train_texts)
    assert any(not t.isascii() for t in raw.test_texts + raw.train_texts)  # the unicode path is exercised
    _check_corpus(vec, raw.test_texts + [t for t in raw.train_texts if not t.isascii()])


def test_identical_with_unicode_terms_in_the_vocabulary():
    texts = ["naïve café straße", "café naïve naïve", "straße und café", "ΣΊΣΥΦΟΣ ωμέγα café", "plain ascii café"] * 3
    vec = TextVectorizer().fit(texts)
    assert "straße" in vec.terms and "naïve" in vec.terms and "σίσυφος" in vec.terms
    _check_corpus(vec, texts + ["CAFÉ NAÏVE", "cafe naive", "σίσυφος"])


def test_zero_rows_and_no_texts():
    vec = TextVectorizer().fit(["cats chase mice", "dogs chase cats", "mice eat cheese"])
    for texts in (["", "the of", "zzz"], [""], []):
        got = vec.transform(texts)
        assert got.shape == (len(texts), vec.n_features) and got.nnz == 0 and got.dtype == np.float32
    assert_identical(vec.transform(["", "cats", ""]), _reference_rows(vec, ["", "cats", ""]))


def test_term_counter_by_hand():
    # a vocabulary as a loaded file could hold it: stop words and single characters are never counted
    counter = TermCounter(["cat", "the", "x", "mat", "e_mail", "über"], stop_words="english")
    assert counter.term_ids("The cat, THE CAT sat on the mat x") == [0, 0, 3]
    assert counter.term_ids("e_mail e-mail Über über") == [4, 5, 5]
    rows = counter.counts(["cat mat cat", "", "mat über"])
    assert rows.toarray().tolist() == [[2, 0, 0, 1, 0, 0], [0] * 6, [0, 0, 0, 1, 0, 1]]
    assert rows.has_sorted_indices and rows.dtype == np.float32
    cols, counts = counter.row("mat cat mat")
    assert cols.tolist() == [0, 3] and counts.tolist() == [1.0, 2.0]
    assert TermCounter(["the", "cat"], stop_words=None).term_ids("the cat") == [0, 1]
