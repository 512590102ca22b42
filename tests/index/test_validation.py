"""Bad input raises ValueError/TypeError naming the argument; databases are never copied."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import uniform_codes


@pytest.fixture
def index64(flat_rng):
    index = ni.FlatIndex(64)
    index.add(uniform_codes(flat_rng, 20, 64))
    return index


@pytest.mark.parametrize("nbits", [0, -8, 7, 12, 65544])
def test_bad_nbits_value(nbits):
    with pytest.raises(ValueError, match="nbits"):
        ni.FlatIndex(nbits)


@pytest.mark.parametrize("nbits", [64.0, "64", True, None])
def test_bad_nbits_type(nbits):
    with pytest.raises(TypeError, match="nbits"):
        ni.FlatIndex(nbits)


def test_add_wrong_dtype(index64):
    with pytest.raises(TypeError, match="codes.*uint8"):
        index64.add(np.zeros((3, 8), dtype=np.int8))
    with pytest.raises(TypeError, match="codes"):
        index64.add([[0] * 8])


@pytest.mark.parametrize("shape", [(3, 7), (3, 16), (24,), (2, 3, 8)])
def test_add_wrong_shape(index64, shape):
    with pytest.raises(ValueError, match=r"codes must have shape \(n, 8\)"):
        index64.add(np.zeros(shape, dtype=np.uint8))


def test_non_contiguous_database_refused_not_copied(index64, flat_rng):
    wide = uniform_codes(flat_rng, 10, 128)
    strided = wide[:, ::2]  # (10, 8) view, not contiguous
    assert strided.shape == (10, 8) and not strided.flags.c_contiguous
    with pytest.raises(ValueError, match="codes must be C-contiguous"):
        index64.add(strided)
    fortran = np.asfortranarray(uniform_codes(flat_rng, 10, 64))
    with pytest.raises(ValueError, match="C-contiguous"):
        index64.add(fortran)
    assert index64.ntotal == 20


def test_query_validation(index64):
    with pytest.raises(TypeError, match="queries.*uint8"):
        index64.search(np.zeros((2, 8), dtype=np.float32), 3)
    with pytest.raises(ValueError, match="queries must have shape"):
        index64.search(np.zeros((2, 9), dtype=np.uint8), 3)
    with pytest.raises(ValueError, match="queries must have shape"):
        index64.range_search(np.zeros(7, dtype=np.uint8), 3)


def test_non_contiguous_queries_are_accepted(index64, flat_rng):
    q = uniform_codes(flat_rng, 6, 64)
    strided = np.repeat(q, 2, axis=0)[::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(index64.search(strided, 4).ids, index64.search(q, 4).ids)


@pytest.mark.parametrize("k", [0, -1])
def test_k_not_positive(index64, k):
    with pytest.raises(ValueError, match="k must be > 0"):
        index64.search(np.zeros(8, dtype=np.uint8), k)


@pytest.mark.parametrize("k", [1.5, "3", None, True])
def test_k_wrong_type(index64, k):
    with pytest.raises(TypeError, match="k must be an int"):
        index64.search(np.zeros(8, dtype=np.uint8), k)


def test_radius_checks(index64):
    q = np.zeros(8, dtype=np.uint8)
    with pytest.raises(ValueError, match="radius must be >= 0"):
        index64.range_search(q, -1)
    with pytest.raises(TypeError, match="radius"):
        index64.range_search(q, 2.5)


@pytest.mark.parametrize("num_threads", [0, -2])
def test_num_threads_checks(index64, num_threads):
    with pytest.raises(ValueError, match="num_threads"):
        index64.search(np.zeros(8, dtype=np.uint8), 1, num_threads=num_threads)
    with pytest.raises(ValueError, match="num_threads"):
        ni.set_num_threads(num_threads)


def test_ids_wrong_length(flat_rng):
    index = ni.FlatIndex(64)
    with pytest.raises(ValueError, match="ids must be a 1-D array of length 5"):
        index.add(uniform_codes(flat_rng, 5, 64), np.arange(4))
    with pytest.raises(ValueError, match="ids"):
        index.add(uniform_codes(flat_rng, 5, 64), np.arange(5).reshape(5, 1))
    assert index.ntotal == 0


def test_ids_wrong_type(flat_rng):
    with pytest.raises(TypeError, match="ids"):
        ni.FlatIndex(64).add(uniform_codes(flat_rng, 3, 64), np.array([0.0, 1.0, 2.0]))


def test_ids_duplicated_within_call_and_against_index(flat_rng):
    index = ni.FlatIndex(64)
    codes = uniform_codes(flat_rng, 4, 64)
    with pytest.raises(ValueError, match="ids must be unique"):
        index.add(codes, np.array([1, 2, 2, 3]))
    assert index.ntotal == 0
    index.add(codes, np.array([10, 20, 30, 40]))
    with pytest.raises(ValueError, match="unique"):
        index.add(codes[:2], np.array([5, 30]))
    assert index.ntotal == 4
    # default ids never collide with custom ones
    index.add(codes[:2])
    np.testing.assert_array_equal(index.ids(), [10, 20, 30, 40, 41, 42])


def test_torch_tensor_queries_without_copy_semantics(flat_rng):
    torch = pytest.importorskip("torch")
    db = uniform_codes(flat_rng, 30, 64)
    index = ni.FlatIndex(64)
    index.add(torch.from_numpy(db))
    res_t = index.search(torch.from_numpy(db[:3]), 2)
    np.testing.assert_array_equal(res_t.ids[:, 0], [0, 1, 2])
    with pytest.raises(TypeError, match="uint8"):
        index.add(torch.zeros((2, 8), dtype=torch.int32))


# ---- the shared checks of nash_index.index.validation: every message names its argument
def test_check_int_names_the_argument():
    from nash_index.index.validation import check_int

    assert check_int(np.int64(7), "batch") == 7 and type(check_int(np.int64(7), "batch")) is int
    assert check_int(None, "limit", allow_none=True) is None
    for bad in (1.5, "3", True, None):
        with pytest.raises(TypeError, match=r"^batch must be an int, got "):
            check_int(bad, "batch")
    with pytest.raises(TypeError, match=r"^limit must be an int or None, got float"):
        check_int(2.0, "limit", allow_none=True)


def test_check_choice_names_the_argument_and_the_choices():
    from nash_index.index.validation import check_choice

    assert check_choice("b", ("a", "b"), "mode") == "b"
    with pytest.raises(ValueError, match=r"^mode must be one of \('a', 'b'\), got 'c'$"):
        check_choice("c", ("a", "b"), "mode")
    # through the public API
    with pytest.raises(ValueError, match=r"^kind must be one of \('auto', 'flat', 'mih'\), got 'ivf'"):
        ni.make_index(64, kind="ivf")
    with pytest.raises(ValueError, match=r"^fallback must be one of"):
        ni.MultiIndexHashing(64).set_fallback("sometimes")
    with pytest.raises(ValueError, match=r"^level must be one of"):
        ni.set_simd_level("sse9")


def test_check_radius_and_positive_int_name_the_argument():
    from nash_index.index.validation import check_positive_int, check_radius

    assert check_radius(0) == 0 and check_radius(np.int32(5)) == 5
    with pytest.raises(ValueError, match=r"^radius must be >= 0, got -3$"):
        check_radius(-3)
    with pytest.raises(TypeError, match=r"^radius must be an int, got float"):
        check_radius(2.5)
    with pytest.raises(ValueError, match=r"^n_trials must be > 0, got 0$"):
        check_positive_int(0, "n_trials")
    with pytest.raises(TypeError, match=r"^n_trials must be an int"):
        check_positive_int("4", "n_trials")
