"""Hostile inputs to the baselines (#12 siblings): NaN/inf input gave arbitrary codes silently
(NASH refuses it); constructor arguments of the wrong type failed deep inside numpy or
scikit-learn; a loaded baseline's fitted arrays are checked (``check_state``)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.baselines import LSH, PCAITQ, STH, SpectralHashing

X = sp.random(60, 40, density=0.3, format="csr", random_state=0, dtype=np.float32)
CLASSES = [LSH, PCAITQ, SpectralHashing, STH]


@pytest.fixture(scope="module")
def fitted():
    return {cls: cls(nbits=8).fit(X) for cls in CLASSES}


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(fitted, cls, bad):
    dense = X.toarray()
    dense[3, 5] = bad
    for M in (dense, sp.csr_matrix(dense)):
        with pytest.raises(ValueError, match="NaN or infinite"):
            fitted[cls].encode(M)
        with pytest.raises(ValueError, match="NaN or infinite"):
            cls(nbits=8).fit(M)


@pytest.mark.parametrize("make, error, fragment", [
    (lambda: LSH(nbits=8, random_state="x"), TypeError, "random_state must be an int or None"),
    (lambda: PCAITQ(nbits=8, n_iter="5"), TypeError, "n_iter must be an int"),
    (lambda: STH(nbits=8, C="1"), TypeError, "C must be a number"),
    (lambda: STH(nbits=8, C=float("nan")), ValueError, "C must be > 0"),
    (lambda: STH(nbits=8, n_neighbors=2.5), TypeError, "n_neighbors must be an int"),
])
def test_constructor_argument_types(make, error, fragment):
    with pytest.raises(error, match=fragment):
        make()


@pytest.mark.parametrize("cls, attr, value, fragment", [
    (LSH, "planes_", np.zeros((40, 7)), r"planes_ must have shape \(40, 8\)"),
    (LSH, "offset_", np.full(8, np.nan), "offset_ must hold finite"),
    (PCAITQ, "rotation_", np.zeros((8, 9)), r"rotation_ must have shape \(8, 8\)"),
    (SpectralHashing, "modes_", np.zeros(8, dtype=int), "modes_ must lie in"),
    (STH, "coef_", np.zeros((39, 8)), r"coef_ must have shape \(40, 8\)"),
    (STH, "intercept_", "zero", "intercept_ must be an array"),
])
def test_check_state_names_the_attribute(fitted, cls, attr, value, fragment):
    h = fitted[cls]
    h.check_state()  # a freshly fitted baseline passes
    saved = getattr(h, attr)
    setattr(h, attr, value)
    try:
        with pytest.raises(ValueError, match=fragment):
            h.check_state()
    finally:
        setattr(h, attr, saved)


@pytest.mark.parametrize("cls", [PCAITQ, SpectralHashing, STH])
@pytest.mark.parametrize("data", ["zeros", "equal_rows"])
def test_data_without_variance_is_a_clear_error(cls, data):
    """All-zero or identical rows failed with ARPACK error -9 ("starting vector is zero")."""
    M = sp.csr_matrix((30, 10), dtype=np.float32) if data == "zeros" else np.tile(np.arange(10.0), (30, 1))
    with pytest.raises(ValueError, match="all equal"):
        cls(nbits=8).fit(M)
    assert LSH(nbits=8).fit(M).encode(M).shape == (30, 1)  # random hyperplanes need no variance


def test_spectral_hashing_on_one_document_says_why():
    with pytest.raises(ValueError, match="cannot take 1 principal components of a 1×10 matrix"):
        SpectralHashing(nbits=8).fit(sp.csr_matrix(np.ones((1, 10), np.float32)))
