"""Ids and arrays that reach the binding: int64 range, sign, dtypes by equality (issue #12)."""
from __future__ import annotations

import pickle
from multiprocessing import shared_memory

import numpy as np
import pytest

import nash_index as ni
from conftest import uniform_codes

KINDS = [ni.FlatIndex, ni.MultiIndexHashing]


@pytest.fixture(params=KINDS, ids=lambda c: c.__name__)
def kind(request):
    return request.param


# ---- ids beyond int64 are refused, never wrapped
@pytest.mark.parametrize("bad", [2**63, 2**64 - 1])
def test_add_refuses_uint64_ids_beyond_int64(kind, flat_rng, bad):
    index = kind(64)
    with pytest.raises(ValueError, match=r"ids must fit in int64 .*got %d at position 1" % bad):
        index.add(uniform_codes(flat_rng, 2, 64), np.array([0, bad], np.uint64))
    assert index.ntotal == 0


def test_add_refuses_python_ints_beyond_int64(kind, flat_rng):
    index = kind(64)
    for ids in ([1, 2**63], [-1, 2**63], (0, 2**64)):
        with pytest.raises(ValueError, match="ids must fit in int64"):
            index.add(uniform_codes(flat_rng, 2, 64), ids)
    assert index.ntotal == 0


def test_uint64_ids_within_int64_are_kept(kind, flat_rng):
    index = kind(64)
    index.add(uniform_codes(flat_rng, 2, 64), np.array([5, 2**63 - 1], np.uint64))
    assert index.ids().tolist() == [5, 2**63 - 1]


def test_remove_refuses_ids_beyond_int64(kind, flat_rng):
    index = kind(64)
    index.add(uniform_codes(flat_rng, 3, 64), np.array([0, 1, 7]))
    with pytest.raises(ValueError, match="ids must fit in int64"):
        index.remove(np.array([2**64 - 1], np.uint64))  # was read as -1
    with pytest.raises(ValueError, match="ids must fit in int64"):
        index.remove([2**63])
    assert index.ntotal == 3


@pytest.mark.parametrize("ids", [np.array([0.0, 1.0]), np.array([True, False]), np.array([0, 1], dtype=object),
                                 [0.0, 1.0], [True, False], ["0", "1"], [0, None]])
def test_non_integer_ids_refused(kind, flat_rng, ids):
    index = kind(64)
    with pytest.raises(TypeError, match="ids must"):
        index.add(uniform_codes(flat_rng, 2, 64), ids)
    with pytest.raises(TypeError, match="ids must"):
        index.remove(ids)


# ---- negative ids: -1 pads results
@pytest.mark.parametrize("bad", [-1, -5, -(2**63)])
def test_add_refuses_negative_ids(kind, flat_rng, bad):
    index = kind(64)
    ids = np.array([0, 1, 2, bad, 4])
    with pytest.raises(ValueError, match=r"ids must be >= 0 \(-1 marks padding in results\); got %d at position 3"
                       % bad):
        index.add(uniform_codes(flat_rng, 5, 64), ids)
    with pytest.raises(ValueError, match="ids must be >= 0"):
        index.add(uniform_codes(flat_rng, 5, 64), ids.tolist())
    assert index.ntotal == 0


def test_binding_refuses_negative_ids_too(kind, flat_rng):
    index = kind(64)
    with pytest.raises(ValueError, match="ids must be >= 0"):
        index._impl.add(uniform_codes(flat_rng, 2, 64), np.array([3, -1]))
    assert index.ntotal == 0


def test_remove_negative_and_empty_ids_match_nothing(kind, flat_rng):
    index = kind(64)
    index.add(uniform_codes(flat_rng, 4, 64))
    assert index.remove(np.array([-1, -7])) == 0
    assert index.remove([]) == 0
    assert index.remove(()) == 0
    assert index.remove(np.array([], np.uint64)) == 0
    assert index.remove(np.int64(2)) == 1 and index.remove(3) == 1
    assert index.ids().tolist() == [0, 1]


# ---- arrays that went through pickle, shared memory, other byte orders
def _pickled(arr, out_of_band):
    if not out_of_band:
        return pickle.loads(pickle.dumps(arr, protocol=5))
    buffers = []
    data = pickle.dumps(arr, protocol=5, buffer_callback=buffers.append)
    return pickle.loads(data, buffers=buffers)


@pytest.mark.parametrize("out_of_band", [False, True], ids=["in-band", "out-of-band"])
def test_pickled_arrays_accepted(kind, flat_rng, out_of_band):
    db = uniform_codes(flat_rng, 50, 64)
    ids = np.arange(100, 150, dtype=np.int64)
    index = kind(64)
    index.add(_pickled(db, out_of_band), _pickled(ids, out_of_band))
    res = index.search(_pickled(db[:5], out_of_band), 1)
    assert res.ids[:, 0].tolist() == list(range(100, 105))
    assert index.range_search(_pickled(db[:2], out_of_band), 0).ids.tolist()[:1] == [100]
    assert index.remove(_pickled(ids[:3], out_of_band)) == 3


def test_pickled_dtype_reaches_binding(kind, flat_rng):
    # The Python layer compares dtypes by equality; the binding used identity.
    codes = pickle.loads(pickle.dumps(uniform_codes(flat_rng, 3, 64), protocol=5))
    ids = pickle.loads(pickle.dumps(np.arange(3, dtype=np.int64), protocol=5))
    index = kind(64)
    index._impl.add(codes, ids)
    assert index._impl.remove(ids) == 3


def test_read_only_shared_memory_views(kind, flat_rng):
    db = uniform_codes(flat_rng, 40, 64)
    shm = shared_memory.SharedMemory(create=True, size=db.nbytes)
    try:
        view = np.ndarray(db.shape, dtype=np.uint8, buffer=shm.buf)
        view[:] = db
        view.flags.writeable = False
        index = kind(64)
        index.add(view)
        assert index.search(view[:4], 1).ids[:, 0].tolist() == [0, 1, 2, 3]
        del view
    finally:
        shm.close()
        shm.unlink()


@pytest.mark.parametrize("dtype", [">i8", ">u4", "<i4", "u2", "i1"])
def test_other_integer_dtypes_and_byte_orders(kind, flat_rng, dtype):
    index = kind(64)
    ids = np.array([3, 1, 100, 0], dtype=dtype)
    index.add(uniform_codes(flat_rng, 4, 64), ids)
    assert index.ids().tolist() == [3, 1, 100, 0]
    assert index.remove(np.array([100, 5], dtype=dtype)) == 1


def test_binding_refuses_byte_swapped_ids(kind, flat_rng):
    index = kind(64)
    with pytest.raises(TypeError, match="ids must have dtype int64"):
        index._impl.add(uniform_codes(flat_rng, 2, 64), np.array([1, 2], ">i8"))
    with pytest.raises(TypeError, match="ids must have dtype int64"):
        index._impl.remove(np.array([1, 2], ">i8"))
    with pytest.raises(ValueError, match="ids must have shape"):
        index._impl.remove(np.array(1, np.int64))


@pytest.mark.parametrize("kind", ["flat", "mih"])
def test_remove_counts_a_repeated_id_once(kind):
    index = ni.FlatIndex(64) if kind == "flat" else ni.MultiIndexHashing(64)
    index.add(np.zeros((5, 8), np.uint8))
    assert index.remove([1, 1, 2, 1]) == 2
    np.testing.assert_array_equal(index.ids(), [0, 3, 4])
    with pytest.raises(ValueError, match="id 9 is repeated"):
        index.add(np.zeros((2, 8), np.uint8), [9, 9])
