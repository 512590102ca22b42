"""The index's argument checks (codes, ids, k, radius, nbits, m, threads): clear errors, never a
silent copy of a database.

The checks every layer shares (ints, choices, fractions, arrays, the torch conversion) live in
:mod:`nash_index.checks`; the ones re-exported here keep their old import path working.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np

from ..checks import as_numpy, check_choice, check_fraction, check_int, check_positive_int
from . import _core

__all__ = [
    "INT64_MAX", "MAX_BITS", "MAX_K", "MAX_SUBSTRING_BITS", "MAX_THREADS", "as_code_rows", "as_ids",
    "as_numpy", "check_choice", "check_count", "check_fits_memory", "check_fraction", "check_int", "check_k",
    "check_nbits", "check_num_threads", "check_positive_int", "check_radius",
]

INT64_MAX = 2**63 - 1
# The core's limits, read from it rather than typed again here.
#: Largest k of a k-NN search; results are (nq, k) int32 distances + int64 ids.
MAX_K = int(_core.MAX_K)
#: Largest thread count (the C++ pool's): a typo must not spawn threads until the process dies.
MAX_THREADS = int(_core.MAX_THREADS)
#: Longest code, in bits.
MAX_BITS = int(_core.MAX_BITS)
#: Longest MIH substring (and table key), in bits.
MAX_SUBSTRING_BITS = int(_core.MAX_SUBSTRING_BITS)


def check_nbits(nbits: Any) -> int:
    """Code length: a positive multiple of 8 (codes are whole bytes) up to MAX_BITS (65536)."""
    nbits = check_int(nbits, "nbits")
    if nbits <= 0 or nbits % 8 != 0 or nbits > MAX_BITS:
        raise ValueError(f"nbits must be a positive multiple of 8 up to {MAX_BITS}, got {nbits}")
    return nbits


def check_m(m: Any, nbits: int) -> int:
    """``m`` of a multi-index: None (0 for the core: automatic) or ceil(nbits / 32)..nbits."""
    m = check_int(m, "m", allow_none=True)
    if m is None:
        return 0
    lowest = -(-nbits // MAX_SUBSTRING_BITS)
    if m < lowest or m > nbits:
        raise ValueError(
            f"m must be between {lowest} (substrings of at most {MAX_SUBSTRING_BITS} bits) and {nbits} for {nbits}-bit codes, "
            f"got {m}"
        )
    return m


def check_max_key_bits(value: Any) -> int:
    """``max_key_bits`` of a multi-index: None (0 for the core: whole substrings) or 1..32."""
    value = check_int(value, "max_key_bits", allow_none=True)
    if value is None:
        return 0
    if not 1 <= value <= MAX_SUBSTRING_BITS:
        raise ValueError(f"max_key_bits must be between 1 and {MAX_SUBSTRING_BITS} (or None: whole substrings), got {value}")
    return value


def check_radius(radius: Any) -> int:
    """A Hamming radius: an int >= 0."""
    radius = check_int(radius, "radius")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return radius


def check_num_threads(num_threads: Any, *, allow_none: bool = True) -> int:
    """Threads for one call: 1..MAX_THREADS (above the pool's size the pool is used); None -> 0 (all)."""
    if num_threads is None and allow_none:
        return 0
    num_threads = check_int(num_threads, "num_threads")
    if not 1 <= num_threads <= MAX_THREADS:
        raise ValueError(f"num_threads must be between 1 and {MAX_THREADS}, got {num_threads}")
    return num_threads


def _available_memory() -> Optional[int]:
    """Bytes the process can still allocate: MemAvailable on Linux, else free physical pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


#: Allocations below this size are not checked against the available memory.
_ALWAYS_FITS = 16 << 20


def check_fits_memory(nbytes: int, name: str, what: str) -> None:
    """MemoryError naming ``name`` when ``nbytes`` (of ``what``) exceed the available memory.

    Checked before allocating: numpy would fail with an unnamed error, or overcommit and the OS
    would kill the process (or a neighbour) while the array is filled.
    """
    if nbytes < _ALWAYS_FITS:
        return  # reading /proc/meminfo costs ~10 us, more than a small search itself
    memory = _available_memory()
    if memory is not None and nbytes > memory:
        raise MemoryError(f"{name}: {what} would take {nbytes} bytes, more than the {memory} bytes "
                          "of memory available")


def check_count(value: Any, name: str) -> int:
    """A count or size: an int >= 0 (at most 2**63 - 1)."""
    value = check_int(value, name)
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"{name} must be between 0 and 2**63 - 1, got {value}")
    return value


def check_k(k: Any, nq: int, name: str = "k") -> int:
    """k of a k-NN search over nq queries: 1..MAX_K, and the (nq, k) result must fit in memory;
    errors name ``name`` (what the caller's user passed: ``k``, ``candidates``, ``rescore``).

    Rows stay k wide (padded with id -1 when k > ntotal), so a huge k is refused here rather than
    failing inside numpy or the OS.
    """
    k = check_positive_int(k, name)
    if k > MAX_K:
        raise ValueError(f"{name} must be <= {MAX_K}, got {k}")
    # int32 distance + int64 id per result
    check_fits_memory(nq * k * 12, name, f"results of {name}={k} for {nq} queries (nq * {name} * 12 bytes; "
                      f"lower {name})")
    return k


def as_code_rows(codes: Any, code_size: Optional[int], name: str, *, allow_1d: bool = False,
                 copy: Optional[bool] = None) -> np.ndarray:
    """Validates packed codes of shape (n, code_size) (None: any positive width); a 1-D array is
    one row if allowed.

    Codes that are not C-contiguous are copied when ``copy`` (default: ``allow_1d``, small query
    arrays) and refused otherwise: the database side is never copied or cast silently.
    """
    arr = as_numpy(codes, name)
    if arr.dtype != np.uint8:
        raise TypeError(
            f"{name} must have dtype uint8 (packed codes, see nash_index.pack_bits), got {arr.dtype}"
        )
    if arr.ndim == 1 and allow_1d:
        arr = arr.reshape(1, -1)
    width_ok = arr.ndim == 2 and (arr.shape[1] > 0 if code_size is None else arr.shape[1] == code_size)
    if not width_ok:
        expected = "(n, nbits // 8)" if code_size is None else f"(n, {code_size}) for {code_size * 8}-bit codes"
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if not arr.flags.c_contiguous:
        if not (allow_1d if copy is None else copy):
            raise ValueError(
                f"{name} must be C-contiguous; call np.ascontiguousarray({name}) first "
                "(the index never copies a database silently)"
            )
        arr = np.ascontiguousarray(arr)
    return arr


def _ids_from_sequence(values: Sequence[Any], name: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (OverflowError, ValueError):
        arr = None
    if arr is not None and arr.dtype.kind in "iu":
        return arr  # checked like any integer array ([2**63] is uint64: refused there, by position)
    # Element by element otherwise (bools, floats, objects, and [-1, 2**63], which numpy turns into
    # lossy floats): the error names the first bad position.
    out = np.empty(len(values), dtype=np.int64)
    for pos, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be integers, got {type(v).__name__} at position {pos}")
        if not -INT64_MAX - 1 <= int(v) <= INT64_MAX:
            raise ValueError(f"{name} must fit in int64 (at most 2**63 - 1), got {v} at position {pos}")
        out[pos] = int(v)
    return out


def as_ids(ids: Any, n: Optional[int], name: str = "ids", *, allow_negative: bool = False,
           unique: bool = True) -> np.ndarray:
    """Ids as a contiguous native int64 array of length ``n`` (any length when None), unique
    unless ``unique`` is False.

    Any integer dtype is accepted (big-endian ones are byte-swapped, never misread); bool, float
    and object arrays are refused (TypeError), values beyond int64 too (ValueError), and negative
    values unless ``allow_negative`` (-1 marks padding in search results).
    """
    if isinstance(ids, (list, tuple, range)):
        arr = _ids_from_sequence(ids, name)
    else:
        arr = as_numpy(ids, name, "a numpy array or a sequence of integers")
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        length = "" if n is None else f" of length {n}"
        raise ValueError(f"{name} must be a 1-D array{length}, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):  # bool is not an integer dtype here
        raise TypeError(f"{name} must have an integer dtype (int64), got {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > INT64_MAX:
        pos = int(np.argmax(arr > INT64_MAX))
        raise ValueError(f"{name} must fit in int64 (at most 2**63 - 1), got {arr[pos]} at position {pos}")
    if arr.dtype != np.int64:  # other widths and byte orders: 8 bytes a code at most, a cheap documented cast
        arr = arr.astype(np.int64)
    if not allow_negative and arr.size and int(arr.min()) < 0:
        pos = int(np.argmax(arr < 0))
        raise ValueError(f"{name} must be >= 0 (-1 marks padding in results); got {arr[pos]} at position {pos}")
    if unique and arr.shape[0] > 1:
        ordered = np.sort(arr)
        repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
        if repeated.size:
            raise ValueError(f"{name} must be unique; id {ordered[repeated[0]]} is repeated")
    return np.ascontiguousarray(arr)


def ids_to_remove(ids: Any) -> np.ndarray:
    """The int64 ids of a ``remove`` call: an int, or integers in any shape (negative ones allowed,
    repeats allowed; values beyond int64 refused)."""
    if isinstance(ids, (int, np.integer)) and not isinstance(ids, (bool, np.bool_)):
        ids = [ids]
    elif not isinstance(ids, (list, tuple, range)):
        ids = as_numpy(ids, "ids", "an int, a numpy array or a sequence of integers").reshape(-1)
    return as_ids(ids, None, allow_negative=True, unique=False)
