"""VDSH's per-bit thresholds: the median's codes, with no training score sitting on a threshold."""
import numpy as np
import pytest

pytest.importorskip("torch")
from nash_index.models import VDSH  # noqa: E402


def _thresholds(scores):
    return VDSH(nbits=8)._thresholds_from_scores(np.asarray(scores, dtype=np.float32))


def test_duplicates_at_the_median_get_a_threshold_between_scores():
    scores = np.array([[0.1], [0.2], [0.2], [0.2], [0.5]], np.float32)  # median 0.2, shared by 3 rows
    t = _thresholds(scores)
    np.testing.assert_allclose(t, [0.35])  # halfway from 0.2 to the next larger score, 0.5
    np.testing.assert_array_equal(scores > t, scores > np.median(scores, axis=0))


def test_adjacent_floats_keep_the_median():
    m = np.float32(1.0)
    a = np.nextafter(m, np.float32(2))  # no float32 between m and a
    scores = np.array([[m], [m], [a]], np.float32)
    t = _thresholds(scores)
    assert t[0] == m  # the float32 midpoint would round up to a and flip a's bit
    np.testing.assert_array_equal(scores > t, [[False], [False], [True]])


def test_no_larger_score_keeps_the_median_and_columns_are_independent():
    rng = np.random.default_rng(0)
    scores = np.column_stack([np.full(9, 0.3), rng.standard_normal(9)]).astype(np.float32)
    t = _thresholds(scores)
    assert t.dtype == np.float32 and t[0] == np.float32(0.3)
    np.testing.assert_array_equal(scores > t, scores > np.median(scores, axis=0))
    assert not (scores[:, 1] == t[1]).any()
