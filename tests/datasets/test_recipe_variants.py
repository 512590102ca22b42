"""The preprocessing recipe's variants (sublinear tf, no row norm, validation from train) against
hand-computed TF-IDF, and the default recipe unchanged (its rows and its cache key)."""
from __future__ import annotations

import numpy as np
import pytest
from test_datasets import LOOSE, raw_corpus

import nash_index.datasets as nd
from nash_index.datasets.preprocess import vdsh_preprocess

TRAIN = ["apple apple apple banana", "banana cherry", "cherry cherry date", "date apple", "egg egg banana",
         "fig apple", "grape cherry banana", "apple grape"]
TEST = ["apple banana", "cherry date date", "egg fig", "grape grape apple"]


def _raw():
    return raw_corpus(TRAIN, [[i % 2] for i in range(len(TRAIN))], TEST, [[i % 2] for i in range(len(TEST))])


def _rows(texts, vocab, idf, sublinear, l2):
    c = np.array([[t.split().count(w) for w in vocab] for t in texts], dtype=np.float64)
    tf = np.where(c > 0, 1 + np.log(np.maximum(c, 1)), 0) if sublinear else c
    x = tf * idf
    if l2:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    return x


@pytest.mark.parametrize("sublinear,norm", [(False, "l2"), (True, "l2"), (False, "none"), (True, "none")])
def test_weighting_variants_match_numpy(sublinear, norm):
    recipe = nd.Recipe(**{**LOOSE.params(), "sublinear_tf": sublinear, "norm": norm})
    corpus = vdsh_preprocess(_raw(), recipe)
    rows = corpus.info["rows"]
    train_texts = [TRAIN[i] for i in rows["train"]]
    vocab = corpus.vocabulary
    db = np.array([[t.split().count(w) for w in vocab] for t in train_texts])
    idf = np.log((1 + db.shape[0]) / (1 + (db > 0).sum(axis=0))) + 1
    for split, texts in (("train", train_texts), ("test", [TEST[i] for i in rows["test"]])):
        want = _rows(texts, vocab, idf, sublinear, norm == "l2")
        np.testing.assert_allclose(getattr(corpus, f"X_{split}").toarray(), want, rtol=1e-5, atol=1e-6)


def test_validation_from_train_leaves_the_database_and_keeps_all_test_queries():
    recipe = nd.Recipe(**{**LOOSE.params(), "val_from": "train", "val_fraction": 0.25})
    corpus = vdsh_preprocess(_raw(), recipe)
    rows = corpus.info["rows"]
    assert len(rows["val"]) == 2 and len(rows["train"]) == 6       # ceil(8 * 0.25) held out
    assert not set(rows["val"]) & set(rows["train"])
    assert sorted(rows["test"]) == [0, 1, 2, 3]                     # the whole test split
    assert corpus.keys_val == [f"tr{i}" for i in rows["val"]]
    np.testing.assert_array_equal(corpus.y_val, _raw().train_labels[rows["val"]])
    assert corpus.info["dropped"] == {"train": 0, "test": 0}
    vocab = corpus.vocabulary   # idf from the 6 database documents only
    db = np.array([[TRAIN[i].split().count(w) for w in vocab] for i in rows["train"]])
    idf = np.log((1 + 6) / (1 + (db > 0).sum(axis=0))) + 1
    np.testing.assert_allclose(corpus.X_val.toarray(), _rows([TRAIN[i] for i in rows["val"]], vocab, idf, False, True),
                               rtol=1e-5, atol=1e-6)


def test_default_recipe_keeps_its_parameters_and_rows():
    assert set(nd.Recipe().params()) == {"max_features", "min_df", "max_df", "min_tokens", "max_tokens",
                                         "drop_unlabeled_test", "seed"}  # the cache key of existing corpora
    assert nd.Recipe(norm="none").params()["norm"] == "none"
    corpus = vdsh_preprocess(_raw(), LOOSE)
    rows = corpus.info["rows"]
    assert len(rows["val"]) == 2 and len(rows["test"]) == 2 and len(rows["train"]) == 8
    norms = np.linalg.norm(corpus.X_train.toarray(), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


@pytest.mark.parametrize("bad,match", [({"norm": "l1"}, "norm"), ({"val_from": "dev"}, "val_from"),
                                        ({"val_fraction": 1.0}, "val_fraction")])
def test_bad_variant_names_the_field(bad, match):
    with pytest.raises(ValueError, match=match):
        nd.Recipe(**bad)
