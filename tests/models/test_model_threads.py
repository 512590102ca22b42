"""Torch threads during fit/encode (nash_index.models.threads) and the warning of a fit without
validation data (issue 15, items 1 and 8)."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from planted import FAST, corpus, one_torch_thread  # noqa: E402, F401 (fixtures)

from nash_index.models import NASH, VDSH  # noqa: E402
from nash_index.models import training as training_module  # noqa: E402
from nash_index.models.threads import DEFAULT_NUM_THREADS, torch_threads  # noqa: E402

QUICK = dict(FAST, epochs=2)
CALLER = 3  # a count neither the default nor the tests' explicit values use


@pytest.fixture
def steps(monkeypatch):
    """torch's thread count at every training step (kl_weight_at runs once per mini-batch)."""
    seen = []
    original = training_module.kl_weight_at

    def recording(step, cfg):
        seen.append(torch.get_num_threads())
        return original(step, cfg)

    monkeypatch.setattr(training_module, "kl_weight_at", recording)
    torch.set_num_threads(CALLER)
    return seen


def _record_encoding(model, monkeypatch):
    seen = []
    original = model.net_.code_scores

    def recording(batch):
        seen.append(torch.get_num_threads())
        return original(batch)

    monkeypatch.setattr(model.net_, "code_scores", recording)
    return seen


@pytest.mark.parametrize("cls", [NASH, VDSH])
@pytest.mark.parametrize("num_threads,inside", [(None, DEFAULT_NUM_THREADS), (2, 2)])
def test_training_and_encoding_run_on_num_threads_and_restore_the_caller(cls, num_threads, inside, corpus, steps,
                                                                         monkeypatch):
    X, y, Xv, yv = corpus
    model = cls(nbits=8, num_threads=num_threads, **QUICK).fit(X, y, Xv, yv)
    assert steps and set(steps) == {inside}
    assert torch.get_num_threads() == CALLER
    encoding = _record_encoding(model, monkeypatch)
    model.encode(Xv)
    assert encoding and set(encoding) == {inside}
    assert torch.get_num_threads() == CALLER


def test_the_caller_setting_is_restored_after_an_exception(corpus, steps, monkeypatch):
    X, y, Xv, yv = corpus

    def failing(step, cfg):
        assert torch.get_num_threads() == 2
        raise RuntimeError("stop in a training step")

    monkeypatch.setattr(training_module, "kl_weight_at", failing)
    with pytest.raises(RuntimeError, match="stop in a training step"):
        NASH(nbits=8, num_threads=2, **QUICK).fit(X, y, Xv, yv)
    assert torch.get_num_threads() == CALLER
    monkeypatch.undo()
    torch.set_num_threads(CALLER)
    model = NASH(nbits=8, num_threads=2, **QUICK).fit(X, y, Xv, yv)
    monkeypatch.setattr(model.net_, "code_scores", lambda batch: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        model.encode(Xv)
    assert torch.get_num_threads() == CALLER


def test_interop_threads_are_never_set(corpus, monkeypatch):
    """set_num_interop_threads may run once per process: a library call would break the application's."""
    def refuse(n):
        raise AssertionError("the library must not call torch.set_num_interop_threads")

    monkeypatch.setattr(torch, "set_num_interop_threads", refuse)
    X, y, Xv, yv = corpus
    NASH(nbits=8, num_threads=2, **QUICK).fit(X, y, Xv, yv).encode(Xv)


def test_context_manager_sets_and_restores():
    torch.set_num_threads(CALLER)
    with torch_threads(2) as n:
        assert n == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == CALLER
    with torch_threads(None) as n:
        assert n == DEFAULT_NUM_THREADS == torch.get_num_threads()
    assert torch.get_num_threads() == CALLER


@pytest.mark.parametrize("value,error", [(0, ValueError), (-1, ValueError), (1025, ValueError), ("2", TypeError),
                                         (1.5, TypeError), (True, TypeError)])
def test_num_threads_is_validated_before_training(value, error, corpus, steps):
    X, y, Xv, yv = corpus
    with pytest.raises(error, match="num_threads"):
        NASH(nbits=8, num_threads=value, **QUICK).fit(X, y, Xv, yv)
    assert steps == [] and torch.get_num_threads() == CALLER


def test_num_threads_is_a_parameter_that_survives_save_and_load(corpus, tmp_path):
    X, y, Xv, yv = corpus
    model = NASH(nbits=8, num_threads=2, **QUICK).fit(X, y, Xv, yv)
    assert model.get_params()["num_threads"] == 2 and "num_threads=2" in repr(model)
    model.save(tmp_path / "m")
    assert NASH.load(tmp_path / "m").num_threads == 2


# ---- fit without validation data ------------------------------------------------------------------
def test_fit_without_validation_warns_that_every_epoch_runs(corpus):
    X, y, _, _ = corpus
    with pytest.warns(UserWarning, match=r"NASH\.fit without validation data: all 2 epochs will run") as rec:
        model = NASH(nbits=8, **QUICK).fit(X, y)
    assert len(rec) == 1 and len(model.history_) == 2
    with pytest.warns(UserWarning, match=r"VDSH\.fit without validation data"):
        VDSH(nbits=8, **QUICK).fit(X)


@pytest.mark.parametrize("with_labels", [True, False])
def test_fit_with_validation_or_one_epoch_does_not_warn(corpus, with_labels):
    X, y, Xv, yv = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NASH(nbits=8, **QUICK).fit(X, y if with_labels else None, Xv, yv if with_labels else None)
        NASH(nbits=8, **dict(QUICK, epochs=1)).fit(X)  # one epoch: nothing to stop early


def test_a_fit_refused_for_its_input_does_not_warn_about_epochs(corpus):
    X = corpus[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the epochs warning would surface instead of the ValueError
        with pytest.raises(ValueError, match="non-negative"):
            NASH(nbits=8, decoder="softmax", **QUICK).fit(-X.toarray())
