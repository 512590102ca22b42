"""``nash-index train`` passes NASH's own defaults unless an option is given (one home for the
defaults: models/nash.py), and the options it is given reach the saved model."""
from __future__ import annotations

import json
import random

import pytest

pytest.importorskip("torch")

from nash_index.cli import app  # noqa: E402
from nash_index.models import NASH  # noqa: E402

WORDS = {"a": "alpha beta gamma delta epsilon zeta eta theta", "b": "iota kappa lambda mu nu xi omicron pi"}


def _train(tmp_path, capsys, *extra) -> dict:
    rng = random.Random(0)
    corpus = tmp_path / "c.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for _ in range(600):  # 120 test documents: 60 of them validate
            label = rng.choice("ab")
            fh.write(json.dumps({"text": " ".join(rng.choices(WORDS[label].split(), k=8)), "label": label}) + "\n")
    out = tmp_path / "m"
    status = app.main(["train", "--corpus", str(corpus), "--bits", "8", "--epochs", "1", "--threads", "1",
                       "--quiet", "--out", str(out), *extra])
    assert status == 0
    return json.loads((out / "model" / "config.json").read_text())["params"]


def test_train_uses_nash_defaults_unless_given(tmp_path, capsys):
    defaults = NASH().get_params()
    params = _train(tmp_path, capsys)
    assert {k: params[k] for k in ("batch_size", "lr", "neighbours", "patience")} == \
        {k: defaults[k] for k in ("batch_size", "lr", "neighbours", "patience")}


def test_train_options_reach_the_model(tmp_path, capsys):
    params = _train(tmp_path, capsys, "--neighbours", "0", "--batch-size", "32", "--lr", "0.01")
    assert (params["neighbours"], params["batch_size"], params["lr"]) == (0, 32, 0.01)


def test_train_notes_a_run_that_ended_still_improving(tmp_path, capsys):
    _train(tmp_path, capsys)  # one epoch with validation: the best epoch is the last allowed
    assert "still improving at the last epoch" in capsys.readouterr().out


def test_negative_neighbours_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        app.main(["train", "--corpus", "x.jsonl", "--out", str(tmp_path / "m"), "--neighbours", "-1"])
    assert "--neighbours" in capsys.readouterr().err
