"""Recognising torch tensors and scipy.sparse matrices without importing torch or scipy, and the
one torch-to-numpy conversion of the package.

GPU rule (the same for every argument of every layer): a tensor on another device (a GPU) is
copied to host memory, the one copy ``tensor.cpu()`` would make, since numpy can only read host
memory; a CPU tensor is viewed without a copy (writing to the array writes to the tensor). Tensors
that need grad are detached, never refused. bfloat16, which numpy lacks, becomes float32.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_numpy", "is_sparse", "is_torch_tensor", "to_numpy"]


def _defined_in(value: Any, package: str) -> bool:
    """Whether the class of ``value`` (or a base class) comes from ``package`` or its submodules."""
    return any(cls.__module__ == package or cls.__module__.startswith(package + ".")
               for cls in type(value).__mro__)


def is_torch_tensor(value: Any) -> bool:
    """A torch tensor (or Parameter), recognised by its class's module: torch is never imported."""
    return _defined_in(value, "torch") and hasattr(value, "detach")


def is_sparse(value: Any) -> bool:
    """A scipy.sparse matrix or array, recognised by its class's module: scipy is never imported."""
    return _defined_in(value, "scipy.sparse") and hasattr(value, "tocsr")


def to_numpy(value: Any) -> Any:
    """``value`` as a numpy array when it is a torch tensor (by the module's GPU rule); any other
    value is returned unchanged."""
    if isinstance(value, np.ndarray) or not is_torch_tensor(value):
        return value
    tensor = value.detach()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if str(tensor.dtype) == "torch.bfloat16":
        tensor = tensor.float()
    return tensor.numpy()


def as_numpy(value: Any, name: str, expected: str = "a numpy array of uint8") -> np.ndarray:
    """numpy arrays and torch tensors as a numpy array (no copy where the data are on the host);
    TypeError naming ``name`` for anything else (lists included: the caller wants an array)."""
    if isinstance(value, np.ndarray):
        return value
    if is_torch_tensor(value):
        return to_numpy(value)
    raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
