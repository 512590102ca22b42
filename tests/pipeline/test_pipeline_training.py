"""HashingPipeline.fit and NASH's training (issue 15): num_threads reaches torch while NASH
trains, and a fit that ends up without validation data says that every epoch will run."""
from __future__ import annotations

import warnings

import pytest

pytest.importorskip("sklearn")
torch = pytest.importorskip("torch")

from pipeline_checks import corpus  # noqa: E402, F401 (fixture)

from nash_index.models import training as training_module  # noqa: E402
from nash_index.models.threads import DEFAULT_NUM_THREADS  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

PARAMS = {"epochs": 2, "hidden": (16,), "batch_size": 64}
CALLER = 3


@pytest.fixture
def steps(monkeypatch):
    """torch's thread count at every NASH training step; the caller's own setting is CALLER."""
    seen, original = [], training_module.kl_weight_at

    def recording(step, cfg):
        seen.append(torch.get_num_threads())
        return original(step, cfg)

    monkeypatch.setattr(training_module, "kl_weight_at", recording)
    old = torch.get_num_threads()
    torch.set_num_threads(CALLER)
    yield seen
    torch.set_num_threads(old)


@pytest.mark.parametrize("num_threads,inside", [(None, DEFAULT_NUM_THREADS), (2, 2)])
def test_num_threads_reaches_torch_during_training(corpus, steps, num_threads, inside):
    pipe = HashingPipeline(nbits=16, hasher="nash", hasher_params=PARAMS, verbose=False, num_threads=num_threads,
                           validation_fraction=0.25)
    pipe.fit(corpus.train_texts, corpus.train_labels)
    assert steps and set(steps) == {inside}
    assert pipe.hasher.num_threads == num_threads and torch.get_num_threads() == CALLER
    assert "num_threads" not in pipe.hasher_params  # a runtime choice, not a model parameter of the pipeline


def test_num_threads_is_validated_and_given_once():
    with pytest.raises(ValueError, match="num_threads must be between 1 and 1024"):
        HashingPipeline(num_threads=0)
    with pytest.raises(TypeError, match="num_threads must be an int"):
        HashingPipeline(num_threads="4")
    with pytest.raises(ValueError, match="num_threads is given twice"):
        HashingPipeline(num_threads=2, hasher_params={"num_threads": 1})
    pipe = HashingPipeline(hasher_params={**PARAMS, "num_threads": 2}, verbose=False)
    assert pipe.num_threads is None  # hasher_params alone may carry it


def test_baselines_accept_and_ignore_num_threads(corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False, num_threads=2).fit(corpus.train_texts[:200])
    assert pipe.is_fitted and not hasattr(pipe.hasher, "num_threads")


def test_fit_without_validation_warns_once_and_says_why(corpus):
    pipe = HashingPipeline(nbits=16, hasher_params=PARAMS, verbose=False, validation_fraction=0.0)
    with pytest.warns(UserWarning) as rec:
        pipe.fit(corpus.train_texts, corpus.train_labels)
    messages = [str(w.message) for w in rec if "validation" in str(w.message)]
    assert messages == ["HashingPipeline.fit without validation data (validation_fraction is 0): all 2 epochs of "
                        "NASH will run (no early stopping); pass val_texts to stop at the best epoch"]
    assert rec[0].filename == __file__  # points at the caller's line
    small = HashingPipeline(nbits=16, hasher_params=PARAMS, verbose=False)
    with pytest.warns(UserWarning, match=r"\(60 texts are too few .*all 2 epochs of NASH will run"):
        small.fit(corpus.train_texts[:60])


def test_fit_with_validation_does_not_warn(corpus):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # 0.25 of the 244 training docstrings leaves at least 50 on each side
        HashingPipeline(nbits=16, hasher_params=PARAMS, verbose=False, validation_fraction=0.25).fit(
            corpus.train_texts, corpus.train_labels)
        HashingPipeline(nbits=16, hasher_params=PARAMS, verbose=False, validation_fraction=0.0).fit(
            corpus.train_texts[:300], val_texts=corpus.test_texts[:100])
        HashingPipeline(nbits=16, hasher="lsh", verbose=False, validation_fraction=0.0).fit(corpus.train_texts)
