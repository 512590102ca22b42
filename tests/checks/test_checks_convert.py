"""to_numpy / as_numpy: the one torch-to-numpy conversion and its GPU rule; tensors and sparse
matrices recognised without importing torch or scipy."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from fake_tensor import FakeTensor

from conftest import assert_knn_matches
from nash_index.checks import as_numpy, is_sparse, is_torch_tensor, to_numpy


def test_cpu_tensor_is_viewed_without_a_copy():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    log = []
    out = to_numpy(FakeTensor(data, log=log))
    assert out is data and log == ["detach"]


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_device_tensor_is_copied_to_the_host(device):
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    log = []
    out = to_numpy(FakeTensor(data, device, log=log))
    np.testing.assert_array_equal(out, data)
    assert out is not data and log == ["detach", "cpu"]


def test_bfloat16_becomes_float32():
    out = to_numpy(FakeTensor(np.array([1.5, -2.0]), dtype="torch.bfloat16"))
    assert out.dtype == np.float32 and out.tolist() == [1.5, -2.0]


@pytest.mark.parametrize("value", [np.zeros(3), [1, 2], "text", None, sp.csr_matrix((2, 2))])
def test_anything_else_passes_unchanged(value):
    assert to_numpy(value) is value


def test_real_torch_tensors():
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_(True)
    out = to_numpy(t)
    np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3))
    assert is_torch_tensor(t) and is_torch_tensor(torch.nn.Parameter(t.detach()))
    t.detach()[0, 0] = 7.0  # a CPU tensor shares its memory with the array
    assert out[0, 0] == 7.0
    assert to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32


def test_recognisers():
    assert is_sparse(sp.csr_matrix((2, 2))) and is_sparse(sp.coo_array((2, 2)))
    assert not is_sparse(np.zeros((2, 2))) and not is_sparse(FakeTensor(np.zeros(2)))
    assert is_torch_tensor(FakeTensor(np.zeros(2))) and not is_torch_tensor(np.zeros(2))

    class Subclass(sp.csr_matrix):  # defined outside scipy: recognised through its base class
        pass
    assert is_sparse(Subclass((2, 2)))


def test_as_numpy_refuses_non_arrays_naming_the_argument():
    data = np.zeros((2, 8), np.uint8)
    assert as_numpy(data, "codes") is data
    np.testing.assert_array_equal(as_numpy(FakeTensor(data, "cuda"), "codes"), data)
    with pytest.raises(TypeError, match=r"^codes must be a numpy array of uint8, got list$"):
        as_numpy([[0] * 8], "codes")
    with pytest.raises(TypeError, match=r"^ids must be integers please, got str$"):
        as_numpy("1", "ids", "integers please")


def test_every_entry_point_follows_the_same_rule(flat_rng):
    """GPU tensors used to be refused by the index and copied by pack_bits: now one rule."""
    import nash_index as ni
    from nash_index.pipeline.embedders import check_vectors

    bits = flat_rng.integers(0, 2, size=(20, 16))
    codes = np.packbits(bits, axis=1)
    on_gpu = lambda a: FakeTensor(a, "cuda")  # noqa: E731
    np.testing.assert_array_equal(ni.pack_bits(on_gpu(bits)), codes)
    np.testing.assert_array_equal(ni.unpack_bits(on_gpu(codes), 16), bits)
    signs = bits - 0.5
    np.testing.assert_array_equal(ni.binarize(on_gpu(signs)), codes)
    np.testing.assert_array_equal(check_vectors(on_gpu(signs), 20, "vectors"), signs.astype(np.float32))
    index = ni.FlatIndex(16)
    index.add(on_gpu(codes))
    assert_knn_matches(index.search(on_gpu(codes[:3]), 4), codes, np.arange(20), codes[:3], 4)
