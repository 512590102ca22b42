"""_pca.Projection keeps its offset and contiguous weights between calls: the projections (and so
the codes of every baseline that uses it: PCA-ITQ, SpH) must be bitwise those of the direct
expression ``X @ components.T - mean @ components.T`` it replaced, on real corpora."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.baselines import PCAITQ, Projection, SpectralHashing
from nash_index.text import TextVectorizer

PCA_BASELINES = [PCAITQ, SpectralHashing]


def _direct(projection: Projection, X) -> np.ndarray:
    """The transform as it was: every call multiplies by the transposed components and recomputes the offset."""
    return np.asarray(X @ projection.components.T, dtype=np.float64) - projection.mean @ projection.components.T


def _check(train_texts, test_texts, monkeypatch) -> None:
    vec = TextVectorizer().fit(train_texts)
    X_train, X_test = vec.transform(train_texts), vec.transform(test_texts)
    for cls in PCA_BASELINES:
        model = cls(nbits=32, random_state=0).fit(X_train)
        for X in (X_test, X_test[:1], X_test[:3].toarray()):
            got = model.pca_.transform(X)
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got.view(np.uint64), _direct(model.pca_, X).view(np.uint64))
        codes = model.encode(X_test)
        singles = np.concatenate([model.encode(X_test[i]) for i in range(0, X_test.shape[0], 37)])
        with monkeypatch.context() as patched:
            patched.setattr(Projection, "transform", _direct)
            before = model.encode(X_test)
        np.testing.assert_array_equal(codes, before)
        np.testing.assert_array_equal(singles, before[::37])


def test_codes_unchanged_on_docstrings(docstring_raw, monkeypatch):
    _check(docstring_raw.train_texts, docstring_raw.test_texts, monkeypatch)


@pytest.mark.parametrize("name", ["reuters", "20ng"])
def test_codes_unchanged_on_real_corpora(shared_data_dir, name, monkeypatch):
    from nash_index.datasets import load_raw

    raw = load_raw(name, shared_data_dir)
    _check(raw.train_texts[:3000], raw.test_texts[:1500], monkeypatch)


def test_replaced_arrays_are_used():
    rng = np.random.default_rng(0)
    proj = Projection(mean=rng.random(6), components=rng.standard_normal((2, 6)))
    X = sp.random(4, 6, density=0.5, format="csr", dtype=np.float32, random_state=1)
    np.testing.assert_array_equal(proj.transform(X), _direct(proj, X))
    proj.components = rng.standard_normal((3, 6))   # a new array: the kept weights are remade
    proj.mean = np.zeros(6)
    np.testing.assert_array_equal(proj.transform(X), _direct(proj, X))
    assert proj.transform(X).shape == (4, 3)
    assert proj == Projection(mean=proj.mean, components=proj.components)  # the kept arrays are not fields
