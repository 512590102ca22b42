"""Hostile inputs to the neural models (#12 siblings): the numpy encoder refuses what ``encode``
refuses (NaN, non-numeric), a string ``hidden`` was split into characters, numeric parameters of
the wrong type and unknown devices failed deep inside torch."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from planted import FAST, one_torch_thread, planted_corpus  # noqa: E402, F401 (fixture)

from nash_index.models import NASH  # noqa: E402


@pytest.fixture(scope="module")
def model_and_data():
    X, _ = planted_corpus(80, seed=5, vocab=50)
    return NASH(nbits=8, **{**FAST, "epochs": 1, "hidden": (8,)}).fit(X), X


@pytest.mark.parametrize("bad, error, fragment", [
    ("nan", ValueError, "NaN or infinite"),
    ("inf", ValueError, "NaN or infinite"),
    ("object", TypeError, "numeric"),
    ("str", TypeError, "numeric"),
])
def test_numpy_encoder_refuses_what_encode_refuses(model_and_data, bad, error, fragment):
    model, X = model_and_data
    dense = X[:3].toarray()
    M = {"nan": np.where(dense > 0, np.nan, dense), "inf": np.where(dense > 0, np.inf, dense),
         "object": dense.astype(object), "str": dense.astype(str)}[bad]
    with pytest.raises(error, match=fragment):
        model.encode(M)
    with pytest.raises(error, match=fragment):
        model.export_numpy_encoder().encode(M)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"hidden": "64"}, TypeError, "hidden must be a sequence of ints"),
    ({"hidden": (8.5,)}, TypeError, "hidden must be a sequence of ints"),
    ({"dropout": "0.1"}, TypeError, "dropout must be a finite number"),
    ({"lr": float("nan")}, TypeError, "lr must be a finite number"),
    ({"epochs": "2"}, TypeError, "epochs must be an int"),
    ({"device": "tpu"}, ValueError, "device must be"),
])
def test_parameter_errors_name_the_parameter(model_and_data, kwargs, error, fragment):
    _, X = model_and_data
    with pytest.raises(error, match=fragment):
        NASH(nbits=8, **{**FAST, "epochs": 1, "hidden": (8,), **kwargs}).fit(X)


def test_numpy_encoder_constructor_checks_the_chain():
    """Layers that do not chain used to construct fine and fail inside encode's matmul."""
    from nash_index.models import NumpyEncoder

    W, b = np.zeros((5, 8), np.float32), np.zeros(8, np.float32)
    head = (np.zeros((8, 16), np.float32), np.zeros(16, np.float32))
    assert NumpyEncoder([(W, b)], head, np.zeros(16)).encode(np.ones((2, 5))).shape == (2, 2)
    with pytest.raises(ValueError, match="head.*do not chain"):
        NumpyEncoder([(W, b)], (np.zeros((7, 16)), np.zeros(16)), np.zeros(16))
    with pytest.raises(ValueError, match="thresholds must be 16"):
        NumpyEncoder([(W, b)], head, np.zeros(8))
