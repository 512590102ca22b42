"""Checks of scalar arguments (ints, choices, fractions): TypeError for the wrong type, ValueError
for a value out of range, each naming the argument and what it expected."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["check_choice", "check_fraction", "check_int", "check_positive_int", "is_real_number"]


def is_real_number(value: Any) -> bool:
    """An int or float (numpy scalars too), not a bool: ``True`` as a learning rate is a mistake."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def check_int(value: Any, name: str, *, allow_none: bool = False) -> Any:
    """``value`` as a Python int (bools refused); ``None`` passes when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        expected = "an int or None" if allow_none else "an int"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as a Python int > 0."""
    value = check_int(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_choice(value: Any, choices: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``choices``."""
    # Non-strings are refused before `in`: an array would raise numpy's ambiguous-truth error.
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_fraction(value: Any, name: str) -> float:
    """A probability: a real number in [0, 1] (bools and NaN refused)."""
    if not is_real_number(value):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    if not 0 <= value <= 1:  # also False for NaN
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)
