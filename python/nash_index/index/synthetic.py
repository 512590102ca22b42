"""Synthetic packed codes for tests, benchmarks and ``nash-index bench`` (one generator for all).

``uniform``: every bit a fair coin. ``clustered``: random centres, each code a centre with every
bit flipped with probability ``flip``, the way learned codes of similar documents gather; many
codes then tie at small distances.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .validation import as_code_rows, check_choice, check_count, check_fits_memory, check_fraction, check_nbits

__all__ = ["CODE_KINDS", "clustered_codes", "random_centres", "synthetic_codes", "uniform_codes"]

CODE_KINDS = ("clustered", "uniform")
Seed = Union[int, np.random.Generator]
_CHUNK = 1 << 16  # codes drawn at once: 10^8 codes never need an (n, nbits) bit array


def _rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_count(seed, "seed"))


def _check_size(n: int, nbits: int) -> tuple:
    """(n, code_size) of n codes, refused up front when they cannot fit in memory."""
    n, code_size = check_count(n, "n"), check_nbits(nbits) // 8
    check_fits_memory(n * code_size, "n", f"{n} codes of {nbits} bits")
    return n, code_size


def uniform_codes(n: int, nbits: int, seed: Seed = 0) -> np.ndarray:
    """``n`` uniformly random packed codes, uint8 (n, nbits // 8)."""
    n, code_size = _check_size(n, nbits)
    return _rng(seed).integers(0, 256, size=(n, code_size), dtype=np.uint8)


def random_centres(count: int, nbits: int, seed: Seed = 0) -> np.ndarray:
    """``count`` uniformly random packed codes to cluster around (share them between a database
    and its queries so that queries fall into the database's clusters)."""
    return uniform_codes(max(1, check_count(count, "count")), nbits, seed)


def clustered_codes(n: int, nbits: int, centres: Union[int, np.ndarray] = 4, flip: float = 0.05,
                    seed: Seed = 0) -> np.ndarray:
    """``n`` codes, each a random one of ``centres`` (a count, or packed codes) with every bit
    flipped with probability ``flip``."""
    n, code_size = _check_size(n, nbits)
    flip = check_fraction(flip, "flip")
    rng = _rng(seed)
    if isinstance(centres, (int, np.integer)) and not isinstance(centres, bool):
        centres = random_centres(check_count(centres, "centres"), nbits, rng)
    centres = as_code_rows(centres, code_size, "centres", allow_1d=True)
    if centres.shape[0] == 0:
        raise ValueError("centres must hold at least one code")
    out = np.empty((n, code_size), dtype=np.uint8)
    for lo in range(0, n, _CHUNK):
        rows = min(_CHUNK, n - lo)
        noise = np.packbits(rng.random((rows, nbits), dtype=np.float32) < flip, axis=1)
        out[lo:lo + rows] = centres[rng.integers(0, centres.shape[0], size=rows)] ^ noise
    return out


def synthetic_codes(n: int, nbits: int, kind: str = "clustered", seed: Seed = 0, flip: float = 0.1,
                    centres: Optional[np.ndarray] = None) -> np.ndarray:
    """``kind="uniform"``, or ``"clustered"`` around ``centres`` (default: n / 1000 random ones)."""
    if check_choice(kind, CODE_KINDS, "kind") == "uniform":
        return uniform_codes(n, nbits, seed)
    n = check_count(n, "n")
    return clustered_codes(n, nbits, max(1, n // 1000) if centres is None else centres, flip, seed)
