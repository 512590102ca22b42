"""BaseIndex.reconstruct (the stored code of an id) and binarize (packed sign bits)."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import scrambled_ids, uniform_codes


@pytest.mark.parametrize("kind", ["flat", "mih"])
@pytest.mark.parametrize("mmap", [False, True])
def test_reconstruct_returns_the_stored_code(tmp_path, flat_rng, kind, mmap):
    codes = uniform_codes(flat_rng, 500, 64)
    ids = scrambled_ids(flat_rng, 500)
    index = ni.FlatIndex(64) if kind == "flat" else ni.MultiIndexHashing(64)
    index.add(codes, ids)
    index.remove(ids[:50])
    index.save(tmp_path / "a.nidx")
    index = ni.load(tmp_path / "a.nidx", mmap=mmap)
    for pos in (50, 123, 499):
        np.testing.assert_array_equal(index.reconstruct(ids[pos]), codes[pos])
        assert index.reconstruct(int(ids[pos])).dtype == np.uint8
    for absent in (int(ids[0]), -1, 2**70, int(ids.max()) + 1):
        with pytest.raises(KeyError):
            index.reconstruct(absent)
    with pytest.raises(TypeError, match="id must be an int"):
        index.reconstruct(1.0)


def test_reconstruct_with_default_ids(flat_rng):
    codes = uniform_codes(flat_rng, 20, 32)
    index = ni.FlatIndex(32)
    index.add(codes)
    np.testing.assert_array_equal(index.reconstruct(7), codes[7])
    with pytest.raises(KeyError):
        index.reconstruct(20)


def test_binarize_is_packed_signs():
    x = np.array([[0.5, -1.0, 0.0, 2.0, -0.1, 3.0, 1e-9, -5.0] * 2,
                  [-1.0] * 16], dtype=np.float32)
    expected = np.packbits(x > 0, axis=1)  # independent: the ubinary convention
    np.testing.assert_array_equal(ni.binarize(x), expected)
    np.testing.assert_array_equal(ni.binarize(x[0]), expected[0])
    # bit j of the code is dimension j: 0.5 > 0 sets the top bit of byte 0
    assert ni.binarize(x)[0, 0] == 0b10010110


@pytest.mark.parametrize("bad, error, fragment", [
    (np.zeros((2, 12)), ValueError, "multiple of 8"),
    (np.array([[np.nan] * 8]), ValueError, "NaN"),
    (np.array([["a"] * 8]), TypeError, "dtype"),
    (np.ones((2, 2, 8)), ValueError, "1-D or 2-D"),
])
def test_binarize_refuses(bad, error, fragment):
    with pytest.raises(error, match=fragment):
        ni.binarize(bad)
