"""NASH's and VDSH's declared parameter constraints: the defaults pass, and each bad value is
refused by ``fit``'s check (no training needed to see it) with the parameter named."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from nash_index.models import NASH, VDSH  # noqa: E402

#: (parameter, bad value, error) for the parameters both models share
COMMON = [("nbits", 12, ValueError), ("nbits", "8", TypeError), ("decoder", "poisson", ValueError),
          ("target", "bm25", ValueError), ("hidden", (8, -1), ValueError), ("hidden", 8, TypeError),
          ("dropout", 1.0, ValueError), ("dropout", -0.1, ValueError), ("lr", 0.0, ValueError),
          ("lr", float("inf"), TypeError), ("kl_weight", -1.0, ValueError), ("epochs", 0, ValueError),
          ("batch_size", 2.0, TypeError), ("patience", 0, ValueError), ("kl_anneal_steps", 1.5, TypeError),
          ("eval_k", 0, ValueError), ("num_threads", 0, ValueError)]
NASH_ONLY = [("variant", "nash-s", ValueError), ("noise_form", "global", ValueError), ("gamma", 1.0, ValueError),
             ("alpha", -0.5, ValueError), ("noise_sigma", "0.2", TypeError), ("neighbours", -1, ValueError),
             ("neighbour_weight", -1.0, ValueError)]


@pytest.mark.parametrize("cls", [NASH, VDSH])
def test_defaults_and_edges_pass(cls):
    cls()._validate_params()
    cls(hidden=(), dropout=0.0, kl_weight=0, kl_anneal_steps=-1, num_threads=None)._validate_params()


@pytest.mark.parametrize("cls, name, value, error", [(c, *case) for c in (NASH, VDSH) for case in COMMON]
                         + [(NASH, *case) for case in NASH_ONLY])
def test_each_bad_value_names_its_parameter(cls, name, value, error):
    with pytest.raises(error, match=rf"\b{name}\b"):
        cls().set_params(**{name: value})._validate_params()


def test_noise_sigma_must_be_positive_only_where_noise_is_added():
    NASH(variant="nash", noise_sigma=0.0)._validate_params()  # plain NASH adds no noise
    for variant in ("nash-n", "nash-dn"):
        with pytest.raises(ValueError, match=rf"noise_sigma must be > 0 for variant '{variant}', got 0.0"):
            NASH(variant=variant, noise_sigma=0.0)._validate_params()


def test_every_declared_name_is_a_constructor_parameter():
    for cls in (NASH, VDSH):
        assert set(cls._parameter_constraints) <= set(cls._param_names())
