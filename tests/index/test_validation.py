"""Bad input raises ValueError/TypeError naming the argument; databases are never copied."""
from __future__ import annotations

import os
import re
import tempfile

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
    kinds = ni.index.INDEX_KINDS  # ('auto', 'flat', 'mih'), then any test-only kinds of the build
    assert kinds[:3] == ("auto", "flat", "mih")
    with pytest.raises(ValueError, match=rf"^kind must be one of {re.escape(str(kinds))}, got 'ivf'"):
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


# ---- every public entry of the index layer against hostile values (issue #12): a TypeError,
# ValueError or MemoryError whose message starts with the argument's name, or success when the
# value happens to be valid; never a pybind signature dump, an IndexError or a crash.
HOSTILE = [None, True, 1.5, float("nan"), float("inf"), 2**63, 2**64, 2**200, -1, -(2**63), np.int64(-1),
           np.float64(2.0), np.uint8(3), np.array(3), np.array(3, np.uint8), "5", b"x", [], object(),
           np.array([1, 2]), np.zeros((2, 8), np.float32), np.zeros((0, 8), np.uint8),
           np.zeros((2, 16), np.uint8)[:, ::2], np.zeros((2, 3, 8), np.uint8), np.zeros((2, 8), ">u2")]


def _build(codes, **kwargs):
    with tempfile.TemporaryDirectory() as tmp:
        ni.build_mih_file(codes, os.path.join(tmp, "x.nidx"), progress=False, **kwargs)


def _entries():
    from nash_index.index import synthetic

    codes = np.zeros((3, 8), np.uint8)
    flat, mih = ni.FlatIndex(64), ni.MultiIndexHashing(64)
    flat.add(codes)
    mih.add(codes)
    q = codes[:1]
    return {
        "FlatIndex(nbits)": ("nbits", lambda v: ni.FlatIndex(v)),
        "MultiIndexHashing(nbits)": ("nbits", lambda v: ni.MultiIndexHashing(v)),
        "MultiIndexHashing(m)": ("m", lambda v: ni.MultiIndexHashing(64, v)),
        "MultiIndexHashing(max_key_bits)": ("max_key_bits", lambda v: ni.MultiIndexHashing(64, max_key_bits=v)),
        "build_mih_file(nbits)": ("nbits", lambda v: _build(codes, nbits=v)),
        "build_mih_file(m)": ("m", lambda v: _build(codes, m=v)),
        "build_mih_file(max_key_bits)": ("max_key_bits", lambda v: _build(codes, max_key_bits=v)),
        "build_mih_file(chunk_codes)": ("chunk_codes", lambda v: _build(codes, chunk_codes=v)),
        "Flat.search(k)": ("k", lambda v: flat.search(q, v)),
        "MIH.search(k)": ("k", lambda v: mih.search(q, v)),
        "MIH.search_with_work(k)": ("k", lambda v: mih.search_with_work(q, v)),
        "Flat.search(num_threads)": ("num_threads", lambda v: flat.search(q, 1, num_threads=v)),
        "MIH.search(num_threads)": ("num_threads", lambda v: mih.search(q, 1, num_threads=v)),
        "MIH.range_search(num_threads)": ("num_threads", lambda v: mih.range_search(q, 1, num_threads=v)),
        "Flat.range_search(radius)": ("radius", lambda v: flat.range_search(q, v)),
        "MIH.range_search(radius)": ("radius", lambda v: mih.range_search(q, v)),
        "Flat.search(queries)": ("queries", lambda v: flat.search(v, 1)),
        "MIH.range_search(queries)": ("queries", lambda v: mih.range_search(v, 1)),
        "Flat.add(codes)": ("codes", lambda v: ni.FlatIndex(64).add(v)),
        "MIH.add(codes)": ("codes", lambda v: ni.MultiIndexHashing(64).add(v)),
        "Flat.add(ids)": ("ids", lambda v: ni.FlatIndex(64).add(codes[:2], v)),
        "MIH.add(ids)": ("ids", lambda v: ni.MultiIndexHashing(64).add(codes[:2], v)),
        "Flat.remove(ids)": ("ids", lambda v: ni.FlatIndex(64).remove(v)),
        "MIH.set_fallback(fallback)": ("fallback", lambda v: mih.set_fallback(v)),
        "MIH.set_fallback(probe_cost)": ("probe_cost", lambda v: mih.set_fallback(probe_cost=v)),
        "MIH.optimize(m)": ("m", lambda v: mih.optimize(v)),
        "auto_m(nbits)": ("nbits", lambda v: ni.MultiIndexHashing.auto_m(v, 100)),
        "set_num_threads": ("num_threads", lambda v: ni.set_num_threads(v)),
        "set_simd_level": ("level", lambda v: ni.set_simd_level(v)),
        "pack_bits": ("bits", lambda v: ni.pack_bits(v)),
        "unpack_bits(codes)": ("codes", lambda v: ni.unpack_bits(v, 64)),
        "unpack_bits(nbits)": ("nbits", lambda v: ni.unpack_bits(codes, v)),
        "make_index(nbits)": ("nbits", lambda v: ni.make_index(v)),
        "make_index(n_expected)": ("n_expected", lambda v: ni.make_index(64, v)),
        "make_index(kind)": ("kind", lambda v: ni.make_index(64, kind=v)),
        "make_index(m)": ("m", lambda v: ni.make_index(64, kind="mih", m=v)),
        "uniform_codes(n)": ("n", lambda v: synthetic.uniform_codes(v, 64)),
        "uniform_codes(nbits)": ("nbits", lambda v: synthetic.uniform_codes(4, v)),
        "uniform_codes(seed)": ("seed", lambda v: synthetic.uniform_codes(4, 64, v)),
        "clustered_codes(n)": ("n", lambda v: synthetic.clustered_codes(v, 64)),
        "clustered_codes(centres)": ("centres", lambda v: synthetic.clustered_codes(4, 64, v)),
        "clustered_codes(flip)": ("flip", lambda v: synthetic.clustered_codes(4, 64, 2, v)),
        "synthetic_codes(n)": ("n", lambda v: synthetic.synthetic_codes(v, 64)),
        "synthetic_codes(kind)": ("kind", lambda v: synthetic.synthetic_codes(4, 64, v)),
        "random_centres(count)": ("count", lambda v: synthetic.random_centres(v, 64)),
    }


@pytest.mark.parametrize("entry", list(_entries()))
def test_hostile_arguments_name_the_argument(entry, flat_restore_runtime):
    arg, call = _entries()[entry]
    for value in HOSTILE:
        try:
            call(value)
        except (TypeError, ValueError, MemoryError) as e:
            msg = str(e)
            assert re.match(rf"{arg}\b", msg) and "incompatible function arguments" not in msg, \
                f"{entry} with {value!r}: {type(e).__name__}: {msg[:300]}"


@pytest.mark.parametrize("n", [None, 2**64, float("nan"), "5", -1])
def test_auto_m_n_is_checked(n):
    with pytest.raises((TypeError, ValueError), match=r"^n\b"):
        ni.MultiIndexHashing.auto_m(64, n)


# 2**40, not 2**31: before the bound, (1, 2**31) results were allocated and filled (24 GB).
@pytest.mark.parametrize("k", [2**40, 2**63, 2**64])
def test_k_upper_bound(index64, k):
    with pytest.raises(ValueError, match=r"^k must be <= 2147483647, got %d$" % k):
        index64.search(np.zeros(8, dtype=np.uint8), k)


def test_k_whose_results_cannot_fit_in_memory(index64):
    with pytest.raises(MemoryError, match=r"^k: results of k=2147483647 for 1000 queries"):
        index64.search(np.zeros((1000, 8), dtype=np.uint8), 2**31 - 1)


def test_k_beyond_ntotal_pads(index64):
    res = index64.search(np.zeros(8, dtype=np.uint8), 1000)
    assert res.ids.shape == (1, 1000) and (res.ids[0, 20:] == -1).all()


@pytest.mark.parametrize("num_threads", [1025, 2**31, 2**64])
def test_num_threads_upper_bound(index64, num_threads):
    with pytest.raises(ValueError, match=r"^num_threads must be between 1 and 1024"):
        index64.search(np.zeros(8, dtype=np.uint8), 1, num_threads=num_threads)
    with pytest.raises(ValueError, match=r"^num_threads must be between 1 and 1024"):
        index64.range_search(np.zeros(8, dtype=np.uint8), 1, num_threads=num_threads)


def test_num_threads_above_pool_uses_the_pool(index64):
    q = np.zeros((3, 8), dtype=np.uint8)
    np.testing.assert_array_equal(index64.search(q, 5, num_threads=1024).ids, index64.search(q, 5).ids)


def test_huge_radius_acts_as_nbits(index64):
    q = np.zeros(8, dtype=np.uint8)
    assert index64.range_search(q, 2**70).lims.tolist() == [0, 20]
