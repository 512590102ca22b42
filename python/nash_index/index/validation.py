"""Every argument check of the package: one home each, clear errors, never a silent copy.

The other layers (models, baselines, text, pipeline, cli) call these instead of writing their own.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["as_code_rows", "as_ids", "as_numpy", "check_choice", "check_int", "check_nbits", "check_num_threads",
           "check_positive_int", "check_radius"]


def check_int(value: Any, name: str, *, allow_none: bool = False) -> Any:
    """``value`` as a Python int (bools refused); ``None`` passes when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        expected = "an int or None" if allow_none else "an int"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return int(value)


def check_choice(value: Any, choices: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_nbits(nbits: Any) -> int:
    """Code length: a positive multiple of 8 (codes are whole bytes) up to 65536."""
    nbits = check_int(nbits, "nbits")
    if nbits <= 0 or nbits % 8 != 0 or nbits > 65536:
        raise ValueError(f"nbits must be a positive multiple of 8 up to 65536, got {nbits}")
    return nbits


def check_positive_int(value: Any, name: str) -> int:
    value = check_int(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_radius(radius: Any) -> int:
    """A Hamming radius: an int >= 0."""
    radius = check_int(radius, "radius")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return radius


def check_num_threads(num_threads: Any) -> int:
    if num_threads is None:
        return 0
    return check_positive_int(num_threads, "num_threads")


def as_numpy(array: Any, name: str) -> np.ndarray:
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
    arr = as_numpy(codes, name)
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
    arr = as_numpy(ids, name) if not isinstance(ids, (list, tuple, range)) else np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of length {n}, got shape {arr.shape}")
    if arr.dtype != np.int64:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be integers (int64), got {arr.dtype}")
        arr = arr.astype(np.int64)  # ids are 8 bytes a code at most: a cheap, documented cast
    if n > 1 and np.unique(arr).shape[0] != n:
        raise ValueError(f"{name} must be unique")
    return np.ascontiguousarray(arr)
