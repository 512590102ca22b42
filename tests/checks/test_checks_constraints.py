"""Declared parameter constraints: hand-checked values on both sides of every bound, the error
type (TypeError: wrong type, ValueError: out of range) and a message naming the parameter."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from nash_index.checks import Checked, Integer, IntSequence, Options, Real, check_params


@pytest.mark.parametrize("constraint, good", [
    (Integer(), [-5, 0, np.int64(7)]),
    (Integer(low=1), [1, 2, 10**12]),
    (Integer(low=0, high=3), [0, 3]),
    (Integer(allow_none=True), [None, 4]),
    (Real(), [-1e300, 0, 2.5, np.float32(1.0)]),
    (Real(0.0, 1.0, closed="left"), [0.0, 0.5, 0.999]),
    (Real(0.0, 1.0, closed="neither"), [1e-9, 0.5]),
    (Real(0.0, closed="neither"), [1e-300, 3]),
    (Real(0, np.inf, closed="neither", finite=False), [0.1, 1e308]),
    (Options("a", "b"), ["a", "b"]),
    (IntSequence(low=1), [(), [3], (500, 500), np.array([2, 4])]),
])
def test_accepted(constraint, good):
    for value in good:
        constraint.check(value, "p")


@pytest.mark.parametrize("constraint, value, error, message", [
    (Integer(), 2.0, TypeError, r"^p must be an int, got float$"),
    (Integer(), True, TypeError, r"^p must be an int, got bool$"),
    (Integer(), None, TypeError, r"^p must be an int, got NoneType$"),
    (Integer(allow_none=True), "3", TypeError, r"^p must be an int or None, got str$"),
    (Integer(low=1), 0, ValueError, r"^p must be >= 1, got 0$"),
    (Integer(low=0, note=" (0 turns it off)"), -1, ValueError, r"^p must be >= 0 \(0 turns it off\), got -1$"),
    (Integer(low=0, high=3), 4, ValueError, r"^p must lie in \[0, 3\], got 4$"),
    (Integer(high=3), 4, ValueError, r"^p must be <= 3, got 4$"),
    (Real(), "0.1", TypeError, r"^p must be a finite number, got '0.1'$"),
    (Real(), float("nan"), TypeError, r"^p must be a finite number, got nan$"),
    (Real(), np.inf, TypeError, r"^p must be a finite number, got inf$"),
    (Real(), False, TypeError, r"^p must be a finite number, got False$"),
    (Real(0.0, 1.0, closed="left"), 1.0, ValueError, r"^p must lie in \[0.0, 1.0\), got 1.0$"),
    (Real(0.0, 1.0, closed="left"), -0.1, ValueError, r"^p must lie in \[0.0, 1.0\), got -0.1$"),
    (Real(0.0, 1.0, closed="neither"), 0.0, ValueError, r"^p must lie in \(0.0, 1.0\), got 0.0$"),
    (Real(0.0, 1.0, closed="right"), 0.0, ValueError, r"^p must lie in \(0.0, 1.0\], got 0.0$"),
    (Real(0.0, closed="neither"), 0, ValueError, r"^p must be > 0.0, got 0$"),
    (Real(0.0), -1e-9, ValueError, r"^p must be >= 0.0, got -1e-09$"),
    (Real(high=2.0, closed="left"), 2.0, ValueError, r"^p must be < 2.0, got 2.0$"),
    (Real(0, np.inf, closed="neither", finite=False), "1", TypeError, r"^p must be a number, got '1'$"),
    (Real(0, np.inf, closed="neither", finite=False), float("nan"), ValueError, r"^p must be > 0, got nan$"),
    (Real(0, np.inf, closed="neither", finite=False), np.inf, ValueError, r"^p must be > 0, got inf$"),
    (Options("a", "b"), "c", ValueError, r"^p must be one of \('a', 'b'\), got 'c'$"),
    (Options("a", "b"), np.array(["a"]), ValueError, r"^p must be one of"),
    (IntSequence(low=1, what="layer widths"), "64", TypeError, r"^p must be a sequence of ints \(layer widths\), got '64'$"),
    (IntSequence(low=1), 64, TypeError, r"^p must be a sequence of ints \(ints\), got 64$"),
    (IntSequence(low=1), (8.5,), TypeError, r"^p must be a sequence of ints"),
    (IntSequence(low=1), (8, True), TypeError, r"^p must be a sequence of ints"),
    (IntSequence(low=1), (8, 0), ValueError, r"^every item of p must be >= 1, got \(8, 0\)$"),
])
def test_refused(constraint, value, error, message):
    with pytest.raises(error, match=message):
        constraint.check(value, "p")


def test_checked_values_come_back_as_python_types():
    assert type(Integer().check(np.int32(3), "p")) is int
    assert Real().check(np.float32(0.5), "p") == 0.5
    assert IntSequence().check([1, 2], "p") == [1, 2]  # returned as given: estimators keep their arguments


def test_closed_must_be_known():
    with pytest.raises(ValueError, match="closed must be one of"):
        Real(0, 1, closed="open")


def test_check_params_checks_in_declaration_order_and_returns_the_values():
    def even(value):
        if value % 2:
            raise ValueError(f"n must be even, got {value}")
        return value

    constraints = {"n": Checked(even), "k": Integer(low=1), "mode": Options("x", "y")}
    est = SimpleNamespace(n=np.int64(4), k=np.int16(2), mode="y")
    assert check_params(est, constraints) == {"n": 4, "k": 2, "mode": "y"}
    with pytest.raises(ValueError, match="^n must be even"):  # the first declared fault wins
        check_params(SimpleNamespace(n=3, k=0, mode="z"), constraints)
    with pytest.raises(ValueError, match="^k must be >= 1"):
        check_params(SimpleNamespace(n=2, k=0, mode="z"), constraints)
