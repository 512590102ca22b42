"""Code sets of 10^8-10^9 codes written to disk in chunks (bench_billion.py's one generator).

Distributions, from easy to hard (names as in issue #13):

* ``c{centres}-p{flip}``: random centres, every bit of a code flipped with probability ``flip``.
  Bits are flipped by word-wide Bernoulli masks (``flip`` rounded to 1/256: the binary digits of
  p decide, from the last to the first, whether a fresh random word is OR-ed or AND-ed in), so a
  10^9-code file takes about a minute rather than the hours of one float per bit.
* ``uniform``: every bit a fair coin.
* ``nash-reuters``: the codes NASH learns for the Reuters training documents, each copy with
  every bit flipped with probability 0.02 (near-duplicates of real documents; clusters with the
  sizes and spreads of learned codes). Queries are the test documents' codes.

Chunk ``i`` is drawn from its own seed (base seed, i): the first N codes of a file are the same
whatever its length, so a 10^9-code file serves every smaller N as a prefix. Files are ``.npy``
(uint8, (n, nbits / 8)), written by ``--workers`` processes into one memory map.
"""
from __future__ import annotations

import multiprocessing as mp
import re
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

CHUNK = 1 << 22  # codes per chunk (32 MB of 64-bit codes)
LEARNED_FLIP = 0.02


def parse_dist(name: str) -> Tuple[Optional[int], float]:
    """(centres, flip) of a clustered name, (None, 0.5) for uniform, (0, 0.02) for learned codes."""
    if name == "uniform":
        return None, 0.5
    if name == "nash-reuters":
        return 0, LEARNED_FLIP
    match = re.fullmatch(r"c(\d+)-p([0-9.]+)", name)
    if not match:
        raise ValueError(f"unknown distribution {name!r} (uniform, nash-reuters or c<centres>-p<flip>)")
    return int(match.group(1)), float(match.group(2))


def effective_flip(p: float) -> float:
    """The flip probability the word masks really use (p rounded to 1/256)."""
    return round(p * 256) / 256


def flip_masks(rng: np.random.Generator, rows: int, code_size: int, p: float) -> np.ndarray:
    """uint8 (rows, code_size) masks whose bits are 1 with probability effective_flip(p)."""
    q = round(p * 256)
    words = -(-rows * code_size // 8)
    mask = np.zeros(words, np.uint64)
    for bit in range(8):  # binary digits of q / 256, least significant first
        r = rng.integers(0, 1 << 64, size=words, dtype=np.uint64, endpoint=False)
        if (q >> bit) & 1:
            mask |= r
        else:
            mask &= r
    if q >= 256:
        mask[:] = ~np.uint64(0)
    return mask.view(np.uint8)[:rows * code_size].reshape(rows, code_size)


def centres_of(dist: str, nbits: int, seed: int, base_codes: Optional[np.ndarray]) -> Optional[np.ndarray]:
    centres, _ = parse_dist(dist)
    if centres is None:
        return None
    if centres == 0:
        return base_codes
    return np.random.default_rng([seed, 1 << 40]).integers(0, 256, (centres, nbits // 8), dtype=np.uint8)


def draw(dist: str, rows: int, nbits: int, seed_key, centres: Optional[np.ndarray]) -> np.ndarray:
    """``rows`` codes of ``dist`` from the seed ``seed_key``."""
    rng = np.random.default_rng(seed_key)
    code_size = nbits // 8
    if centres is None:
        return rng.integers(0, 256, (rows, code_size), dtype=np.uint8)
    _, flip = parse_dist(dist)
    return centres[rng.integers(0, len(centres), rows)] ^ flip_masks(rng, rows, code_size, flip)


def _fill(args) -> None:
    path, dist, nbits, seed, centres, first, last = args
    out = np.load(path, mmap_mode="r+")
    for i in range(first, last):
        lo = i * CHUNK
        rows = min(CHUNK, out.shape[0] - lo)
        # A whole chunk is drawn even for the last, short one: row r of chunk i is the same
        # whatever the file's length.
        out[lo:lo + rows] = draw(dist, CHUNK, nbits, [seed, i], centres)[:rows]
    out.flush()


def write_codes(path: Path, n: int, nbits: int, dist: str, seed: int = 0, workers: int = 2,
                base_codes: Optional[np.ndarray] = None) -> Path:
    """Writes ``n`` codes of ``dist`` to ``path`` (.npy); skips the work when the file exists with that shape."""
    path = Path(path)
    if path.exists():
        existing = np.load(path, mmap_mode="r")
        if existing.shape == (n, nbits // 8):
            return path
    tmp = path.with_suffix(".part.npy")
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, nbits // 8)).flush()
    centres = centres_of(dist, nbits, seed, base_codes)
    chunks = -(-n // CHUNK)
    bounds = np.linspace(0, chunks, workers + 1).astype(int)
    jobs = [(tmp, dist, nbits, seed, centres, bounds[w], bounds[w + 1]) for w in range(workers)]
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_fill, jobs)
    tmp.rename(path)
    return path


def queries_of(dist: str, nq: int, nbits: int, seed: int, base_codes: Optional[np.ndarray] = None,
               query_codes: Optional[np.ndarray] = None) -> np.ndarray:
    """Fresh queries from the distribution (learned codes: the given test-document codes)."""
    if query_codes is not None:
        return np.ascontiguousarray(query_codes[:nq])
    return draw(dist, nq, nbits, [seed, 1 << 41], centres_of(dist, nbits, seed, base_codes))
