"""The pipeline's default hasher (issue #26): ``hasher=None`` is ``"auto"``, which compares NASH
and PCA-ITQ when there are labels and quietly trains NASH when there are none (an explicit
``hasher="auto"`` without labels warns: ``test_pipeline_auto.py``)."""
from __future__ import annotations

import warnings

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("torch")

from pipeline_checks import corpus  # noqa: E402, F401 (fixture)

from nash_index.pipeline import HashingPipeline  # noqa: E402
from nash_index.text import auto_select  # noqa: E402

PARAMS = {"epochs": 2, "hidden": (16,), "batch_size": 64}


def test_the_default_is_auto():
    assert HashingPipeline().hasher_kind == "auto"
    assert HashingPipeline(hasher="nash").hasher_kind == "nash"


def test_default_without_labels_trains_nash_without_a_warning(corpus, monkeypatch):
    calls = []
    monkeypatch.setattr(auto_select, "validation_precision", lambda *a, **kw: calls.append(a) or 0.0)
    pipe = HashingPipeline(nbits=16, hasher_params=PARAMS, verbose=False, validation_fraction=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.fit(corpus.train_texts)
    assert pipe.train_info["hasher"] == "nash" and calls == []  # nothing compared, PCA-ITQ not trained
    assert pipe.train_info["auto"]["reason"] == "no validation labels: kept NASH"


def test_default_with_labels_compares_both(corpus):
    pipe = HashingPipeline(nbits=16, hasher_params=PARAMS, verbose=False, validation_fraction=0.25)
    pipe.fit(corpus.train_texts, corpus.train_labels)
    record = pipe.train_info["auto"]
    assert set(record["scores"]) == {"nash", "itq"} and pipe.train_info["hasher"] == record["kept"]
