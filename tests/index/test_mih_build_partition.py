"""The partitioned MIH table build (issue #25) writes the very bytes of the counting sort it replaced.

The old build stays reachable (``NASH_MIH_BUILD=counting``), so each case builds the same codes
both ways and compares the files byte for byte: uniform, clustered and duplicated codes, counts
that are multiples of nothing, 0 and 1 codes, 8- to 256-bit codes, m = 1..9, a key bit cap, one
or two threads, a scratch small enough to need several passes (``NASH_MIH_BUILD_SCRATCH_MB``) or
too small for one partition (the counting sort then builds that table), and a partition too large
for the radix sort. The files then answer like the numpy oracle."""
from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, uniform_codes
from nash_index.index import _core


@contextlib.contextmanager
def env(**values):
    """Sets environment variables (read by the core at each build) for the block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_file(path, codes, nbits, m=None, max_key_bits=None):
    builder = _core.MihFileBuilder(str(path), nbits, m or 0, max_key_bits or 0)
    if len(codes):
        builder.append(np.ascontiguousarray(codes))
    builder.finish()
    return path.read_bytes()


def both_builds(tmp_path, codes, nbits, m=None, max_key_bits=None, scratch_mb=None):
    """(old bytes, new bytes) of the file of `codes`."""
    with env(NASH_MIH_BUILD="counting"):
        old = build_file(tmp_path / "old.nidx", codes, nbits, m, max_key_bits)
    extra = {"NASH_MIH_BUILD_SCRATCH_MB": scratch_mb} if scratch_mb else {}
    with env(NASH_MIH_BUILD="partition", **extra):
        new = build_file(tmp_path / "new.nidx", codes, nbits, m, max_key_bits)
    return old, new


def half_equal(rng, n, nbits):
    codes = uniform_codes(rng, n, nbits)
    if n:
        codes[rng.permutation(n)[: n // 2]] = codes[0]
    return codes


MAKERS = {
    "uniform": lambda rng, n, nbits: uniform_codes(rng, n, nbits),
    "clustered": lambda rng, n, nbits: clustered_codes(rng, n, nbits, centres=30, p=0.06),
    "all_equal": lambda rng, n, nbits: np.repeat(uniform_codes(rng, 1, nbits), n, axis=0),
    "half_equal": half_equal,
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("n", [0, 1, 7, 1000, 54_321, 300_007])
def test_same_bytes_as_the_counting_sort(tmp_path, kind, n):
    codes = MAKERS[kind](np.random.default_rng(n), n, 64)
    old, new = both_builds(tmp_path, codes, 64)
    assert old == new


@pytest.mark.parametrize("nbits,m", [(8, 1), (24, 1), (32, 1), (32, 2), (40, 2), (64, 2), (64, 3), (64, 4),
                                     (72, 3), (128, 4), (128, 5), (256, 8), (256, 9)])
def test_same_bytes_for_every_width_and_m(tmp_path, nbits, m):
    codes = clustered_codes(np.random.default_rng(nbits + m), 70_001, nbits, centres=200, p=0.1)
    old, new = both_builds(tmp_path, codes, nbits, m)
    assert old == new


@pytest.mark.parametrize("max_key_bits", [5, 13, 20])
def test_same_bytes_with_a_key_bit_cap(tmp_path, max_key_bits):
    codes = uniform_codes(np.random.default_rng(max_key_bits), 100_003, 64)
    old, new = both_builds(tmp_path, codes, 64, 2, max_key_bits)
    assert old == new


@pytest.mark.parametrize("kind", ["uniform", "clustered", "half_equal", "all_equal"])
def test_same_bytes_with_a_small_scratch(tmp_path, kind):
    """1 MB of scratch holds 131,072 entries: 300,007 codes take several passes (or, when one
    partition holds more, that table falls back to the counting sort)."""
    codes = MAKERS[kind](np.random.default_rng(3), 300_007, 64)
    old, new = both_builds(tmp_path, codes, 64, scratch_mb=1)
    assert old == new


@pytest.mark.parametrize("threads", [1, 2])
def test_same_bytes_on_one_or_two_threads(tmp_path, threads):
    codes = clustered_codes(np.random.default_rng(threads), 200_001, 128, centres=1000, p=0.12)
    before = ni.get_num_threads()
    ni.set_num_threads(threads)
    try:
        old, new = both_builds(tmp_path, codes, 128)
    finally:
        ni.set_num_threads(before)
    assert old == new


def test_a_partition_too_large_for_the_radix_sort(tmp_path):
    """Over 2^22 codes in one partition are sorted in place (unique (key, position) pairs)."""
    rng = np.random.default_rng(5)
    codes = np.repeat(uniform_codes(rng, 3, 64), [2_300_000, 5, 2_000_000], axis=0)
    codes[rng.permutation(len(codes))[:1000]] = uniform_codes(rng, 1000, 64)
    old, new = both_builds(tmp_path, codes, 64, 2)
    assert old == new


@pytest.mark.parametrize("kind", ["uniform", "clustered", "half_equal"])
def test_the_built_file_answers_like_the_oracle(tmp_path, kind):
    rng = np.random.default_rng(11)
    db = MAKERS[kind](rng, 150_001, 64)
    np.save(tmp_path / "codes.npy", db)
    with env(NASH_MIH_BUILD="partition", NASH_MIH_BUILD_SCRATCH_MB=1):
        ni.build_mih_file(tmp_path / "codes.npy", tmp_path / "built.nidx", progress=False)
    queries = np.concatenate([db[:4], uniform_codes(rng, 4, 64)])
    ids = np.arange(len(db))
    for mmap in (True, False):
        index = ni.load(tmp_path / "built.nidx", mmap=mmap)
        index.set_fallback("never")  # the tables answer, not the scan
        assert_knn_matches(index.search(queries, 10), db, ids, queries, 10)
        assert_range_matches(index.range_search(queries, 6), db, ids, queries, 6)


def test_an_index_built_in_memory_saves_the_same_bytes(tmp_path):
    """MultiIndexHashing.add builds its tables the same way: same saved file either way."""
    codes = clustered_codes(np.random.default_rng(2), 120_000, 64, centres=50, p=0.1)
    saved = []
    for algo in ("counting", "partition"):
        with env(NASH_MIH_BUILD=algo):
            index = ni.MultiIndexHashing(64)
            index.add(codes)
            index.save(tmp_path / f"{algo}.nidx")
        saved.append((tmp_path / f"{algo}.nidx").read_bytes())
    assert saved[0] == saved[1]
    queries = codes[:5]
    assert_knn_matches(index.search(queries, 5), codes, np.arange(len(codes)), queries, 5)
