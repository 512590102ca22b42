"""random_search / sample_params against hostile search spaces (#12 siblings): one string was
sampled character by character, unknown names failed inside the constructor, and a NaN first
score made every later trial lose."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from planted import FAST, one_torch_thread, planted_corpus  # noqa: E402, F401 (fixture)

from nash_index.models import NASH  # noqa: E402
from nash_index.models.search import random_search, sample_params  # noqa: E402


def test_one_string_is_not_a_list_of_choices():
    with pytest.raises(TypeError, match="'variant' must be a list of choices.*nash-dn"):
        sample_params({"variant": "nash-dn"}, np.random.default_rng(0))
    assert sample_params({"variant": ["nash-dn"]}, np.random.default_rng(0)) == {"variant": "nash-dn"}


def test_unknown_parameters_and_trial_count_are_named():
    X, y = planted_corpus(60, seed=1, vocab=40)
    with pytest.raises(ValueError, match=r"unknown parameters of NASH: \['bogus'\]"):
        random_search(NASH(nbits=8), {"bogus": [1]}, X, y, X, y)
    with pytest.raises(TypeError, match="n_trials must be an int"):
        random_search(NASH(nbits=8), {}, X, y, X, y, n_trials=2.5)


def test_a_nan_score_does_not_hide_later_trials(monkeypatch):
    X, y = planted_corpus(60, seed=1, vocab=40)
    scores = iter([float("nan"), 0.25, 0.5])
    real_fit = NASH.fit

    def fit_with_score(self, *args, **kwargs):
        real_fit(self, *args, **kwargs)
        self.result_.best_score = next(scores)
        return self

    monkeypatch.setattr(NASH, "fit", fit_with_score)
    best, trials = random_search(NASH(nbits=8, **{**FAST, "epochs": 1, "hidden": (8,)}), {"lr": [1e-3]},
                                 X, y, X, y, n_trials=3)
    assert [t["trial"] for t in trials] == [2, 1, 0] and best.result_.best_score == 0.5
