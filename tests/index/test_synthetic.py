"""nash_index.index.synthetic: the one code generator of tests, benchmarks and ``nash-index bench``.

Checked against what the docstrings promise: shapes and dtype, fair coins for uniform codes, the
measured flip rate of clustered codes against the requested fraction, determinism by seed.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import clustered_codes, hamming, oracle_distances, popcount
from nash_index.index import synthetic


@pytest.mark.parametrize("nbits", [8, 64, 136])
def test_uniform_shape_dtype_and_fair_bits(nbits):
    codes = synthetic.uniform_codes(4000, nbits, seed=1)
    assert codes.shape == (4000, nbits // 8) and codes.dtype == np.uint8 and codes.flags.c_contiguous
    ones = popcount(codes).sum() / (4000 * nbits)
    assert abs(ones - 0.5) < 0.01  # 4000 * nbits fair coins: std <= 0.003
    per_bit = np.unpackbits(codes, axis=1).mean(axis=0)
    assert np.all(np.abs(per_bit - 0.5) < 0.05)  # no bit position is stuck


def test_uniform_and_centres_are_deterministic_by_seed():
    a, b = synthetic.uniform_codes(100, 64, seed=5), synthetic.uniform_codes(100, 64, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synthetic.uniform_codes(100, 64, seed=6))
    # a Generator is used as is (and advanced): two calls on one generator differ
    rng = np.random.default_rng(5)
    first = synthetic.uniform_codes(100, 64, seed=rng)
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(synthetic.uniform_codes(100, 64, seed=rng), first)
    np.testing.assert_array_equal(synthetic.random_centres(7, 64, seed=3), synthetic.uniform_codes(7, 64, seed=3))
    assert synthetic.random_centres(0, 64).shape == (1, 8)  # at least one centre


@pytest.mark.parametrize("flip", [0.0, 0.02, 0.1, 0.3])
def test_clustered_flip_rate_around_one_centre(flip):
    nbits, n = 128, 5000
    centre = synthetic.random_centres(1, nbits, seed=11)
    codes = synthetic.clustered_codes(n, nbits, centres=centre, flip=flip, seed=12)
    assert codes.shape == (n, nbits // 8) and codes.dtype == np.uint8
    measured = oracle_distances(codes, centre)[0] / nbits
    # n * nbits = 640000 Bernoulli(flip) draws: the mean is within 0.003 of flip (> 5 std)
    assert abs(measured.mean() - flip) < 0.003
    if flip == 0.0:
        assert (codes == centre).all()
    # every bit position flips at the same rate
    flips = np.unpackbits(codes ^ centre, axis=1).mean(axis=0)
    assert np.all(np.abs(flips - flip) < 0.03)


def test_clustered_codes_gather_around_every_centre():
    nbits, n, count, flip = 256, 6000, 5, 0.05
    centres = synthetic.random_centres(count, nbits, seed=2)
    codes = synthetic.clustered_codes(n, nbits, centres=centres, flip=flip, seed=3)
    dist = oracle_distances(centres, codes)  # (n, count)
    nearest = dist.argmin(axis=1)
    # random 256-bit centres are ~128 bits apart, members ~13 bits from their own centre
    assert (dist.min(axis=1) < nbits // 4).all()
    assert abs(dist.min(axis=1).mean() / nbits - flip) < 0.005
    counts = np.bincount(nearest, minlength=count)
    assert counts.min() > 0.8 * n / count and counts.max() < 1.2 * n / count  # centres drawn uniformly


def test_clustered_is_deterministic_by_seed_and_centre_count_is_drawn():
    a = synthetic.clustered_codes(500, 64, centres=4, flip=0.1, seed=9)
    np.testing.assert_array_equal(a, synthetic.clustered_codes(500, 64, centres=4, flip=0.1, seed=9))
    assert not np.array_equal(a, synthetic.clustered_codes(500, 64, centres=4, flip=0.1, seed=10))
    # with flip = 0 the codes are exactly the (4) drawn centres
    exact = synthetic.clustered_codes(500, 64, centres=4, flip=0.0, seed=9)
    assert np.unique(exact, axis=0).shape[0] == 4


def test_clustered_beyond_one_chunk():
    n = 70_000  # more than the 65536 codes drawn at once
    centre = synthetic.random_centres(1, 16, seed=0)
    codes = synthetic.clustered_codes(n, 16, centres=centre, flip=0.25, seed=1)
    assert codes.shape == (n, 2)
    rates = hamming(codes, centre) / 16
    assert abs(rates[:65536].mean() - 0.25) < 0.005 and abs(rates[65536:].mean() - 0.25) < 0.01


def test_synthetic_codes_dispatch():
    np.testing.assert_array_equal(synthetic.synthetic_codes(300, 64, "uniform", seed=4),
                                  synthetic.uniform_codes(300, 64, seed=4))
    # clustered by default: n // 1000 centres (at least one), flip 0.1
    codes = synthetic.synthetic_codes(3000, 64, seed=4)
    np.testing.assert_array_equal(codes, synthetic.clustered_codes(3000, 64, centres=3, flip=0.1, seed=4))
    centres = synthetic.random_centres(2, 64, seed=8)
    np.testing.assert_array_equal(synthetic.synthetic_codes(50, 64, "clustered", seed=1, flip=0.2, centres=centres),
                                  synthetic.clustered_codes(50, 64, centres=centres, flip=0.2, seed=1))
    with pytest.raises(ValueError, match="kind must be one of"):
        synthetic.synthetic_codes(10, 64, "gaussian")
    with pytest.raises(ValueError, match="nbits"):
        synthetic.uniform_codes(10, 12)


def test_conftest_clustered_fixture_codes_have_many_ties(flat_rng):
    """The suite's clustered case (tests/conftest.py) is for tie-breaking: few distinct distances."""
    db = clustered_codes(flat_rng, 1500, 64, centres=3, p=0.02)
    d = oracle_distances(db, db[:5])
    for row in d:
        values, counts = np.unique(row, return_counts=True)
        assert values.size < 60 and counts.max() >= 50  # 1500 codes share a few dozen distances
