"""check_array (data matrices: dense, scipy.sparse, torch) and check_stored_array (arrays read back
from files): what passes comes back in the promised form, every refusal names the argument."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from fake_tensor import FakeTensor

from nash_index.checks import check_array, check_stored_array

DENSE = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]])


@pytest.mark.parametrize("given", [DENSE, DENSE.tolist(), np.asfortranarray(DENSE), DENSE.astype(np.float16),
                                   FakeTensor(DENSE), FakeTensor(DENSE, "cuda")])
def test_dense_inputs_become_contiguous_arrays_of_the_dtype(given):
    out = check_array(given, "X", dtype=np.float32)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, DENSE.astype(np.float32))
    kept = check_array(given, "X", dtype=None)  # None: the input's own dtype
    assert kept.dtype == np.asarray(given.data if isinstance(given, FakeTensor) else given).dtype


def test_a_contiguous_array_of_the_dtype_is_not_copied():
    assert check_array(DENSE, "X", dtype=np.float64) is DENSE


def test_integer_counts_are_numeric():
    counts = np.array([[0, 3], [1, 0]], np.int16)
    np.testing.assert_array_equal(check_array(counts, "X", dtype=np.float32), counts.astype(np.float32))


@pytest.mark.parametrize("make", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array])
def test_sparse_inputs_become_sorted_csr_of_the_sparse_dtype(make):
    given = make(DENSE)
    out = check_array(given, "X", accept_sparse=True, dtype=np.float64, sparse_dtype=np.float32)
    assert out.format == "csr" and out.dtype == np.float32 and out.has_sorted_indices
    assert isinstance(out, sp.sparray) == isinstance(given, sp.sparray)  # matrix or array: the caller's class
    np.testing.assert_array_equal(out.toarray(), DENSE.astype(np.float32))
    assert check_array(given, "X", accept_sparse=True, dtype=np.float64).dtype == np.float64  # sparse_dtype None


def test_unsorted_indices_are_sorted_in_a_copy_never_in_the_callers_matrix():
    given = sp.csr_matrix((np.array([1.0, 2.0]), np.array([2, 0]), np.array([0, 2])), shape=(1, 3))
    assert not given.has_sorted_indices
    out = check_array(given, "X", accept_sparse=True)
    assert out.indices.tolist() == [0, 2] and given.indices.tolist() == [2, 0]
    np.testing.assert_array_equal(out.toarray(), given.toarray())


@pytest.mark.parametrize("given, kwargs, error, message", [
    ("text", {}, TypeError, r"^docs must be a numpy array \(or a torch tensor\), got str$"),
    (42, {"accept_sparse": True}, TypeError, r"^docs must be a numpy array or scipy.sparse matrix \(or a torch tensor\), got int$"),
    (sp.csr_matrix(DENSE), {}, TypeError, r"^docs must be a dense array, got a scipy.sparse csr_matrix$"),
    (DENSE.astype(object), {}, TypeError, r"^docs must be numeric, got dtype object$"),
    (DENSE.astype(str), {}, TypeError, r"^docs must be numeric, got dtype <U"),
    (DENSE > 0, {}, TypeError, r"^docs must be numeric, got dtype bool$"),
    (sp.csr_matrix(DENSE > 0), {"accept_sparse": True}, TypeError, r"^docs must be numeric, got dtype bool$"),
    (DENSE[0], {}, ValueError, r"^docs must be 2-D \(one row per document\), got shape \(3,\)$"),
    (np.zeros((0, 3)), {}, ValueError, r"^docs has no rows$"),
    (DENSE, {"min_rows": 3}, ValueError, r"^docs has 2 rows, at least 3 needed$"),
    (DENSE, {"n_features": 4}, ValueError, r"^docs has 3 features; the model expects 4$"),
    (sp.csr_matrix(DENSE), {"accept_sparse": True, "n_features": 2}, ValueError, r"^docs has 3 features; the model expects 2$"),
    (np.where(DENSE > 1, np.nan, DENSE), {}, ValueError, r"^docs contains NaN or infinite values$"),
    (sp.csr_matrix(np.where(DENSE > 1, -np.inf, DENSE)), {"accept_sparse": True}, ValueError, "^docs contains NaN or infinite"),
    (np.full((1, 2), 1e300), {"dtype": np.float32}, ValueError, "^docs contains NaN or infinite"),  # overflow in the cast
    (sp.csr_matrix(np.full((1, 2), 1e300)), {"accept_sparse": True}, ValueError, "^docs contains NaN or infinite"),
])
def test_refusals_name_the_argument(given, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_array(given, "docs", **kwargs)


def test_what_may_be_relaxed():
    assert check_array(np.zeros((0, 3)), "X", min_rows=0).shape == (0, 3)
    inf = np.array([[np.inf, 1.0]])
    assert check_array(inf, "X", finite=False)[0, 0] == np.inf


# ---------------------------------------------------------------------------- stored arrays

def test_stored_array_passes_unchanged():
    a = np.zeros((4, 2), np.float32)
    assert check_stored_array(a, "w", (None, 2)) is a
    assert check_stored_array(np.arange(3), "ids", (3,), "iu").dtype.kind == "i"
    assert check_stored_array(np.array("x"), "p", (), "U").shape == ()


@pytest.mark.parametrize("value, shape, kinds, message", [
    ([1.0, 2.0], (2,), "f", r"^w must be an array, got list$"),
    (np.zeros((3, 2)), (3, 3), "f", r"^w must have shape \(3, 3\), got \(3, 2\)$"),
    (np.zeros((3, 2)), (None, 3), "f", r"^w must have shape \(n, 3\), got \(3, 2\)$"),
    (np.zeros(3), (2,), "f", r"^w must have shape \(2,\), got \(3,\)$"),
    (np.zeros(3), (3, 1), "f", r"^w must have shape \(3, 1\), got \(3,\)$"),
    (np.zeros(3), (3,), "iu", r"^w must hold integers, got dtype float64$"),
    (np.zeros(3, int), (3,), "f", r"^w must hold floats, got dtype int64$"),
    (np.array(["a"]), (1,), "fiu", r"^w must hold numbers, got dtype <U1$"),
    (np.zeros(1), (1,), "U", r"^w must hold strings, got dtype float64$"),
    (np.zeros(1), (1,), "b", r"^w must hold booleans, got dtype float64$"),
    (np.array([0.0, np.nan]), (2,), "f", r"^w must hold finite values; it holds non-finite ones \(NaN or inf\)$"),
    (np.array([np.inf]), (1,), "fiu", "^w must hold finite values"),
])
def test_stored_array_refusals_name_the_array(value, shape, kinds, message):
    with pytest.raises(ValueError, match=message):
        check_stored_array(value, "w", shape, kinds)
