"""Argument checks shared by the index classes: clear errors, never a silent copy."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_code_rows", "as_ids", "check_nbits", "check_positive_int", "check_num_threads"]


def check_nbits(nbits: Any) -> int:
    if isinstance(nbits, bool) or not isinstance(nbits, (int, np.integer)):
        raise TypeError(f"nbits must be an int, got {type(nbits).__name__}")
    nbits = int(nbits)
    if nbits <= 0 or nbits % 8 != 0 or nbits > 65536:
        raise ValueError(f"nbits must be a positive multiple of 8 up to 65536, got {nbits}")
    return nbits


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return int(value)


def check_num_threads(num_threads: Any) -> int:
    if num_threads is None:
        return 0
    return check_positive_int(num_threads, "num_threads")


def _to_numpy(array: Any, name: str) -> np.ndarray:
    """numpy arrays pass through; CPU torch tensors are viewed without a copy."""
    if isinstance(array, np.ndarray):
        return array
    if type(array).__module__.startswith("torch"):
        if array.device.type != "cpu":
            raise ValueError(f"{name} is a torch tensor on {array.device}; move it to the CPU first")
        return array.detach().numpy()
    raise TypeError(f"{name} must be a numpy array of uint8, got {type(array).__name__}")


def as_code_rows(codes: Any, code_size: int, name: str, *, allow_1d: bool = False) -> np.ndarray:
    """Validates packed codes of shape (n, code_size); a 1-D array is one row if allowed.

    Small arrays (queries) that are not C-contiguous are copied; the database
    side (``allow_1d=False``) is never copied or cast.
    """
    arr = _to_numpy(codes, name)
    if arr.dtype != np.uint8:
        raise TypeError(
            f"{name} must have dtype uint8 (packed codes, see nash_index.pack_bits), got {arr.dtype}"
        )
    if arr.ndim == 1 and allow_1d:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != code_size:
        raise ValueError(
            f"{name} must have shape (n, {code_size}) for {code_size * 8}-bit codes, got {arr.shape}"
        )
    if not arr.flags.c_contiguous:
        if not allow_1d:
            raise ValueError(
                f"{name} must be C-contiguous; call np.ascontiguousarray({name}) first "
                "(the index never copies a database silently)"
            )
        arr = np.ascontiguousarray(arr)
    return arr


def as_ids(ids: Any, n: int, name: str = "ids") -> np.ndarray:
    arr = _to_numpy(ids, name) if not isinstance(ids, (list, tuple, range)) else np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of length {n}, got shape {arr.shape}")
    if arr.dtype != np.int64:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be integers (int64), got {arr.dtype}")
        arr = arr.astype(np.int64)  # ids are 8 bytes a code at most: a cheap, documented cast
    if n > 1 and np.unique(arr).shape[0] != n:
        raise ValueError(f"{name} must be unique")
    return np.ascontiguousarray(arr)
