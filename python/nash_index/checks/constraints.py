"""Declared parameter constraints (the scikit-learn ``_parameter_constraints`` idea).

An estimator lists ``{parameter: constraint}`` once, as a class attribute, and
:func:`check_params` checks them all: a wrong type is a TypeError, a value out of range a
ValueError, each naming the parameter and what it expected. A constraint is any object with
``check(value, name) -> value`` (the checked value: an int parameter comes back as a Python int).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Protocol

import numpy as np

from .params import check_choice, check_int, is_real_number

__all__ = ["Checked", "Constraint", "IntSequence", "Integer", "Options", "Real", "check_params"]

_CLOSED = ("both", "left", "right", "neither")


class Constraint(Protocol):
    def check(self, value: Any, name: str) -> Any: ...


def check_params(estimator: Any, constraints: Mapping[str, Constraint]) -> dict:
    """Checks ``getattr(estimator, name)`` against each declared constraint, in declaration
    order; returns ``{name: checked value}``."""
    return {name: constraint.check(getattr(estimator, name), name) for name, constraint in constraints.items()}


def _bound(value: Optional[float]) -> bool:
    """Whether a bound is stated in messages (an infinite one only means "finite")."""
    return value is not None and bool(np.isfinite(value))


class _Range:
    """Bounds ``low``/``high`` (None: unbounded), ``closed`` at "both", "left", "right" or
    "neither" end; ``note`` is appended to the message (why the range)."""

    def __init__(self, low: Optional[float], high: Optional[float], closed: str, note: str) -> None:
        if closed not in _CLOSED:
            raise ValueError(f"closed must be one of {_CLOSED}, got {closed!r}")
        self.low, self.high, self.note = low, high, note
        self.left, self.right = closed in ("both", "left"), closed in ("both", "right")  # ends included

    def contains(self, value: Any) -> bool:  # False for NaN: every comparison with NaN is
        above = self.low is None or value > self.low or (self.left and value == self.low)
        below = self.high is None or value < self.high or (self.right and value == self.high)
        return bool(above and below)

    def text(self) -> str:
        if _bound(self.low) and _bound(self.high):
            return f"lie in {'[' if self.left else '('}{self.low}, {self.high}{']' if self.right else ')'}"
        if _bound(self.low):
            return f"be {'>=' if self.left else '>'} {self.low}"
        if _bound(self.high):
            return f"be {'<=' if self.right else '<'} {self.high}"
        return "be finite"

    def check(self, value: Any, name: str) -> None:
        if not self.contains(value):
            raise ValueError(f"{name} must {self.text()}{self.note}, got {value!r}")


class Integer:
    """An int (numpy ints too, bools refused) in the range, or None when ``allow_none``."""

    def __init__(self, low: Optional[int] = None, high: Optional[int] = None, *, allow_none: bool = False,
                 note: str = "") -> None:
        self.range = _Range(low, high, "both", note)
        self.allow_none = allow_none

    def check(self, value: Any, name: str) -> Optional[int]:
        value = check_int(value, name, allow_none=self.allow_none)
        if value is not None:
            self.range.check(value, name)
        return value


class Real:
    """A real number (ints too, bools refused), finite unless ``finite=False`` (then NaN and
    infinity reach the range check), in the range; returned as given."""

    def __init__(self, low: Optional[float] = None, high: Optional[float] = None, closed: str = "both", *,
                 finite: bool = True, note: str = "") -> None:
        self.range = _Range(low, high, closed, note)
        self.finite = finite

    def check(self, value: Any, name: str) -> Any:
        if not is_real_number(value) or (self.finite and not np.isfinite(value)):
            raise TypeError(f"{name} must be a {'finite ' if self.finite else ''}number, got {value!r}")
        self.range.check(value, name)
        return value


class Options:
    """One of the given strings."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def check(self, value: Any, name: str) -> str:
        return check_choice(value, self.choices, name)


class IntSequence:
    """A sequence (not a string) of ints, each at least ``low``; ``what`` names the items."""

    def __init__(self, low: Optional[int] = None, what: str = "ints") -> None:
        self.range = _Range(low, None, "both", "")
        self.what = what

    def check(self, value: Any, name: str) -> Any:
        iterable = hasattr(value, "__iter__") and not isinstance(value, str)  # "64" is not (6, 4)
        items = tuple(value) if iterable else ()
        if not iterable or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
            raise TypeError(f"{name} must be a sequence of ints ({self.what}), got {value!r}")
        if not all(self.range.contains(v) for v in items):
            raise ValueError(f"every item of {name} must {self.range.text()}, got {value!r}")
        return value


class Checked:
    """A check function of one argument that names the parameter itself (``check_nbits``)."""

    def __init__(self, check: Callable[[Any], Any]) -> None:
        self.function = check

    def check(self, value: Any, name: str) -> Any:
        return self.function(value)
