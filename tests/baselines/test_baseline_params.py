"""The baselines' declared parameter constraints: checked in the constructor, each bad value
refused with the parameter named, accepted values stored as Python ints."""
from __future__ import annotations

import numpy as np
import pytest

from nash_index.baselines import BASELINES, LSH, PCAITQ, STH, SpectralHashing


@pytest.mark.parametrize("cls, name, value, error", [
    (LSH, "nbits", 12, ValueError), (SpectralHashing, "nbits", 8.0, TypeError),
    (PCAITQ, "random_state", 1.5, TypeError), (PCAITQ, "n_iter", -1, ValueError),
    (STH, "n_neighbors", 0, ValueError), (STH, "C", 0.0, ValueError), (STH, "C", float("inf"), ValueError),
    (STH, "C", True, TypeError),
])
def test_each_bad_value_names_its_parameter(cls, name, value, error):
    with pytest.raises(error, match=rf"^{name} must"):
        cls(**{name: value})


def test_checked_values_are_stored_as_python_ints():
    itq = PCAITQ(nbits=np.int64(16), random_state=np.int32(3), n_iter=np.int16(0))
    assert (itq.nbits, itq.random_state, itq.n_iter) == (16, 3, 0)
    assert all(type(v) is int for v in (itq.nbits, itq.random_state, itq.n_iter))
    sth = STH(n_neighbors=np.int64(5), C=2)
    assert type(sth.n_neighbors) is int and sth.C == 2 and STH(random_state=None).random_state is None


@pytest.mark.parametrize("cls", BASELINES.values())
def test_every_declared_name_is_a_constructor_parameter(cls):
    import inspect

    assert set(cls._parameter_constraints) <= set(inspect.signature(cls.__init__).parameters)
    cls()  # the defaults pass
