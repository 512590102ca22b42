"""Hostile inputs to the text layer (#12): check_texts names the argument and the position of the
first bad item; texts without a vocabulary term are found by rows_without_terms; a damaged
vectorizer file or hasher entry raises ValueError naming it."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn")

from nash_index.text import TrainedHasher, check_texts, make_hasher  # noqa: E402
from nash_index.text.vectorizer import TextVectorizer, VectorizerParams, describe_texts, rows_without_terms  # noqa: E402

SMALL = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs and cats", "a log is not a mat"]


@pytest.mark.parametrize("texts, error, fragment", [
    (["a", None], TypeError, r"docs\[1\] must be a str, got NoneType"),
    ([b"x"], TypeError, r"docs\[0\] must be a str, got bytes"),
    (["a", "b", 7], TypeError, r"docs\[2\] must be a str, got int 7"),
    ("one string", TypeError, "docs must be a sequence of strings, not one str"),
    (b"bytes", TypeError, "not one bytes"),
    (None, TypeError, "docs must be a sequence of strings, got NoneType"),
    ({"a": 1}, TypeError, "got dict"),
    ([], ValueError, "docs is empty"),
])
def test_check_texts(texts, error, fragment):
    with pytest.raises(error, match=fragment):
        check_texts(texts, name="docs")


def test_check_texts_accepts_sequences_of_str():
    assert check_texts(("a", "b")) == ["a", "b"]
    assert check_texts(np.array(["a", "b"])) == ["a", "b"]  # numpy strings are str
    assert check_texts(iter(["a"])) == ["a"] and check_texts([], allow_empty=True) == []


def test_rows_without_terms_and_their_description():
    vec = TextVectorizer(VectorizerParams(min_df=1)).fit(SMALL)
    texts = ["cat mat", "", "the of and", "zzzz", "dogs"]
    assert rows_without_terms(vec.transform(texts)).tolist() == [False, True, True, True, False]
    assert describe_texts(texts, [1, 2, 3], limit=2) == "#1 '', #2 'the of and' and 1 more"
    assert len(describe_texts(["x" * 1000], [0])) < 60


@pytest.mark.parametrize("params, error, fragment", [
    ({"max_features": "10"}, TypeError, "max_features must be an int"),
    ({"min_df": 2.0}, TypeError, "min_df must be an int or None"),
    ({"max_df": None}, TypeError, "max_df must be a number"),
    ({"stop_words": "french"}, ValueError, "stop_words"),
])
def test_vectorizer_params_are_checked(params, error, fragment):
    with pytest.raises(error, match=fragment):
        VectorizerParams(**params)


def _save(tmp_path, **arrays):
    with open(tmp_path / "v.npz", "wb") as fh:
        np.savez(fh, **arrays)
    return tmp_path / "v.npz"


@pytest.mark.parametrize("arrays, manifest, fragment", [
    ({"terms": np.array(["a", "b"]), "idf": np.ones(3, np.float32)}, {"params": {}}, r"idf must have shape \(2,\)"),
    ({"terms": np.array(["a", "a"]), "idf": np.ones(2, np.float32)}, {"params": {}}, "2 terms \\(1 distinct\\)"),
    ({"terms": np.zeros(0, "<U1"), "idf": np.ones(0, np.float32)}, {"params": {}}, "0 terms"),
    ({"terms": np.array([1, 2]), "idf": np.ones(2, np.float32)}, {"params": {}}, "terms must hold strings"),
    ({"terms": np.array(["a"]), "idf": np.array([np.nan], np.float32)}, {"params": {}}, "non-finite"),
    ({"idf": np.ones(2, np.float32)}, {"params": {}}, r"lacks the vocabulary"),
    ({"terms": np.array(["a"]), "idf": np.ones(1, np.float32)}, {"params": {"bogus": 1}}, "invalid params"),
    ({"terms": np.array(["a"]), "idf": np.ones(1, np.float32)}, {}, "no 'params'"),
    ({"terms": np.array(["a"]), "idf": np.ones(1, np.float32)}, {"params": {}, "n_features": 5}, "manifest says 5"),
])
def test_vectorizer_load_checks_the_file(tmp_path, arrays, manifest, fragment):
    path = _save(tmp_path, **arrays)
    with pytest.raises(ValueError, match=fragment):
        TextVectorizer.load(path, manifest)


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04", b"not an npz at all"])
def test_vectorizer_load_unreadable(tmp_path, data):
    (tmp_path / "v.npz").write_bytes(data)
    with pytest.raises(ValueError, match="v.npz.*not a readable .npz"):
        TextVectorizer.load(tmp_path / "v.npz", {"params": {}})


def test_hasher_entry_may_only_name_its_own_baseline(tmp_path):
    X = sp.random(40, 30, density=0.3, format="csr", random_state=0, dtype=np.float32)
    entry = TrainedHasher.train("lsh", 8, None, 0, False, X).save(tmp_path)
    assert "class" not in entry and entry["kind"] == "lsh"  # the registered name says it; never a module path
    assert TrainedHasher.load(entry, tmp_path).encoder.encode(X).shape == (40, 1)
    assert TrainedHasher.load({**entry, "class": "nash_index.baselines.lsh:LSH"}, tmp_path).kind == "lsh"  # release 0.1.0
    for cls, fragment in [("os:system", "refusing"), ("nash_index.baselines.nope:LSH", "does not name a class"),
                          ("nash_index.baselines._pca:Projection", "not a hashing baseline of kind 'lsh'"),
                          ("nash_index.baselines.lsh:np", "does not name a class"), ("itq", "not a hashing baseline"),
                          ("pca-projection", "not a hashing baseline"), (3, "must be a name")]:
        with pytest.raises(ValueError, match=fragment):
            TrainedHasher.load({**entry, "class": cls}, tmp_path)


def test_dataclass_attributes_are_saved_by_name(tmp_path):
    X = sp.random(60, 30, density=0.3, format="csr", random_state=0, dtype=np.float32)
    trained = TrainedHasher.train("itq", 8, None, 0, False, X)
    entry = trained.save(tmp_path)
    assert entry["state"]["__dataclasses__"] == {"pca_": "pca-projection"}
    old = {**entry, "class": "nash_index.baselines.itq:PCAITQ",  # as release 0.1.0 wrote it
           "state": {**entry["state"], "__dataclasses__": {"pca_": "nash_index.baselines._pca:Projection"}}}
    np.testing.assert_array_equal(TrainedHasher.load(old, tmp_path).encoder.encode(X), trained.encoder.encode(X))
    for saved_as, fragment in [("os.path:join", "refusing"), ("projection", "not one of \\['pca-projection'\\]"),
                               ("nash_index.baselines._pca:fit_pca", "does not name a class")]:
        bad = {**entry, "state": {**entry["state"], "__dataclasses__": {"pca_": saved_as}}}
        with pytest.raises(ValueError, match=fragment):
            TrainedHasher.load(bad, tmp_path)


def test_unknown_hasher_params_are_named():
    with pytest.raises(TypeError, match="hasher_params do not fit the 'itq' hasher.*n_bits"):
        make_hasher("itq", 8, {"n_bits": 3})
