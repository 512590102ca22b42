"""pack_bits / unpack_bits: documented bit order, round trips, numpy and torch inputs."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import hamming


def test_documented_bit_order():
    bits = np.zeros((1, 16), dtype=np.uint8)
    bits[0, 0] = 1  # bit 0 -> most significant bit of byte 0
    bits[0, 9] = 1  # bit 9 -> byte 1, bit position 7 - 1
    codes = ni.pack_bits(bits)
    assert codes.dtype == np.uint8 and codes.shape == (1, 2)
    assert codes.tolist() == [[0x80, 0x40]]


@pytest.mark.parametrize("nbits", [8, 24, 64, 72, 1024])
def test_round_trip_and_hamming_preserved(flat_rng, nbits):
    bits = flat_rng.integers(0, 2, size=(13, nbits))
    codes = ni.pack_bits(bits)
    assert codes.shape == (13, nbits // 8) and codes.flags.c_contiguous
    np.testing.assert_array_equal(ni.unpack_bits(codes, nbits), bits)
    # Hamming distance between packed codes equals bit disagreement count
    d_bits = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    d_codes = hamming(codes[:, None, :], codes[None, :, :])
    np.testing.assert_array_equal(d_bits, d_codes)


def test_one_dimensional_and_bool_and_float_inputs(flat_rng):
    bits = flat_rng.integers(0, 2, size=32)
    codes = ni.pack_bits(bits)
    assert codes.shape == (4,)
    np.testing.assert_array_equal(ni.pack_bits(bits.astype(bool)), codes)
    np.testing.assert_array_equal(ni.pack_bits(bits.astype(np.float32)), codes)
    np.testing.assert_array_equal(ni.unpack_bits(codes, 32), bits)


def test_pack_bits_errors():
    with pytest.raises(ValueError, match="nbits"):
        ni.pack_bits(np.zeros((2, 12), dtype=np.uint8))
    with pytest.raises(ValueError, match="only 0 and 1"):
        ni.pack_bits(np.full((2, 8), 2))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        ni.pack_bits(np.zeros((2, 2, 8), dtype=np.uint8))
    with pytest.raises(TypeError):
        ni.pack_bits(np.array([["a"] * 8]))


def test_unpack_bits_errors():
    with pytest.raises(TypeError, match="uint8"):
        ni.unpack_bits(np.zeros((2, 8), dtype=np.int32), 64)
    with pytest.raises(ValueError, match="bytes per row"):
        ni.unpack_bits(np.zeros((2, 8), dtype=np.uint8), 72)


def test_packed_codes_search_consistently(flat_rng):
    bits = flat_rng.integers(0, 2, size=(200, 64))
    index = ni.FlatIndex(64)
    index.add(ni.pack_bits(bits))
    res = index.search(ni.pack_bits(bits[:5]), 3)
    expected = (bits[:5, None, :] != bits[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(res.distances, np.sort(expected, axis=1)[:, :3])


def test_torch_tensors(flat_rng):
    torch = pytest.importorskip("torch")
    bits = flat_rng.integers(0, 2, size=(9, 64))
    for t in (torch.from_numpy(bits), torch.from_numpy(bits).bool(), torch.from_numpy(bits).float()):
        np.testing.assert_array_equal(ni.pack_bits(t), np.packbits(bits, axis=1))
    codes = torch.from_numpy(np.packbits(bits, axis=1))
    np.testing.assert_array_equal(ni.unpack_bits(codes, 64), bits)
    # a tensor that needs grad is detached, not refused
    probs = torch.from_numpy(bits).float().requires_grad_(True)
    np.testing.assert_array_equal(ni.pack_bits(probs), np.packbits(bits, axis=1))


@pytest.mark.parametrize("codes", [np.array(3, np.uint8), np.uint8(3), np.zeros((2, 2, 8), np.uint8)])
def test_unpack_bits_refuses_0d_and_3d_codes(codes):
    # A 0-d array used to raise IndexError from arr.shape[-1].
    with pytest.raises(ValueError, match=r"^codes must be 1-D or 2-D"):
        ni.unpack_bits(codes, 64)


@pytest.mark.parametrize("shape", [(3, 0), (0,), (2, 65544)])
def test_pack_bits_column_count_names_bits(shape):
    with pytest.raises(ValueError, match=r"^bits must have nbits columns"):
        ni.pack_bits(np.zeros(shape, np.uint8))


def test_pickled_and_read_only_codes_round_trip():
    import pickle

    codes = ni.pack_bits(np.eye(16, dtype=np.uint8))
    back = pickle.loads(pickle.dumps(codes, protocol=5))
    back.flags.writeable = False
    np.testing.assert_array_equal(ni.unpack_bits(back, 16), np.eye(16, dtype=np.uint8))
    index = ni.FlatIndex(16)
    index.add(back)
    assert index.search(back[:3], 1).ids[:, 0].tolist() == [0, 1, 2]
