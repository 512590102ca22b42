"""unit_rows against a numpy oracle (each row over its own norm, computed row by row), for dense,
sparse and torch input, zero rows included; the old homes re-export the same function."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from fake_tensor import FakeTensor

from nash_index.checks import unit_rows

ROWS = np.array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0], [0.0, -2.0, 0.0], [1.0, 1.0, 1.0]])
#: Hand-checked: (3, 0, 4) / 5, a zero row stays zero, (0, -2, 0) / 2, (1, 1, 1) / sqrt(3).
EXPECTED = np.array([[0.6, 0.0, 0.8], [0.0, 0.0, 0.0], [0.0, -1.0, 0.0], [3 ** -0.5] * 3])


def oracle(X: np.ndarray) -> np.ndarray:
    out = np.zeros(X.shape)
    for i, row in enumerate(X.astype(np.float64)):
        norm = np.sqrt(sum(v * v for v in row))
        if norm > 0:
            out[i] = row / norm
    return out


def test_hand_checked_rows():
    np.testing.assert_allclose(oracle(ROWS), EXPECTED, rtol=1e-12)
    np.testing.assert_allclose(unit_rows(ROWS), EXPECTED, rtol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_dense_and_sparse_match_the_oracle(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 17)) * (rng.random((40, 17)) < 0.3)
    X[[0, 7]] = 0.0  # zero rows
    dense = unit_rows(X)
    assert dense.dtype == np.float32 and isinstance(dense, np.ndarray)
    np.testing.assert_allclose(dense, oracle(X), rtol=1e-5, atol=1e-7)
    for make in (sp.csr_matrix, sp.csc_matrix, sp.csr_array):
        given = make(X)
        out = unit_rows(given)
        assert out.format == "csr" and out.dtype == np.float32
        assert isinstance(out, sp.sparray) == isinstance(given, sp.sparray)  # matrix or array: the caller's class
        np.testing.assert_allclose(out.toarray(), oracle(X), rtol=1e-5, atol=1e-7)
        assert out.nnz == np.count_nonzero(X)  # no explicit zeros stored for the zero rows


def test_sparse_input_is_not_modified():
    given = sp.csr_matrix(ROWS.astype(np.float32))
    before = given.toarray().copy()
    unit_rows(given)
    np.testing.assert_array_equal(given.toarray(), before)


def test_torch_input_by_the_gpu_rule():
    np.testing.assert_allclose(unit_rows(FakeTensor(ROWS, "cuda")), EXPECTED, rtol=1e-6)


def test_one_dimensional_input_is_refused():
    with pytest.raises(ValueError, match=r"expected a 2-D matrix, got shape \(3,\)"):
        unit_rows(ROWS[0])


def test_the_old_homes_are_the_same_function():
    from nash_index.evaluation import unit_rows as evaluation_unit_rows
    from nash_index.index.rescore import unit_rows as rescore_unit_rows

    assert evaluation_unit_rows is unit_rows and rescore_unit_rows is unit_rows
