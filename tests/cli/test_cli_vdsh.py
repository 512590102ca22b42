"""``nash-index train --hasher vdsh``: the CLI's hashers come from the registry, so VDSH trains,
builds an index, searches and evaluates like NASH, and its own defaults apply unless given."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

pytest.importorskip("torch")

from nash_index.cli import app  # noqa: E402
from nash_index.models import VDSH  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402
from nash_index.text import hasher_names  # noqa: E402

WORDS = {"a": "alpha beta gamma delta epsilon zeta eta theta", "b": "iota kappa lambda mu nu xi omicron pi"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(1)
    path = tmp_path_factory.mktemp("vdsh") / "c.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(400):
            label = rng.choice("ab")
            fh.write(json.dumps({"text": " ".join(rng.choices(WORDS[label].split(), k=8)), "label": label}) + "\n")
    return path


def _train(corpus, out, *extra) -> int:
    return app.main(["train", "--corpus", str(corpus), "--bits", "8", "--epochs", "2", "--threads", "1", "--quiet",
                     "--out", str(out), *extra])


def test_train_build_search_evaluate_with_vdsh(tmp_path, corpus, capsys):
    assert _train(corpus, tmp_path / "m", "--hasher", "VDSH", "--lr", "0.005") == 0
    out = capsys.readouterr().out
    assert "val P@100" in out and "trained vdsh (8 bits)" in out
    config = json.loads((tmp_path / "m" / "model" / "config.json").read_text())
    defaults = VDSH().get_params()
    assert config["class"] == "VDSH" and config["params"]["lr"] == 0.005 and config["params"]["epochs"] == 2
    assert config["params"]["batch_size"] == defaults["batch_size"]  # VDSH's own default, not NASH's
    model = HashingPipeline.load(tmp_path / "m")
    assert model.hasher_kind == "vdsh" and model.hasher is None
    assert app.main(["build", "--model", str(tmp_path / "m"), "--corpus", str(corpus), "--out", str(tmp_path / "i"),
                     "--quiet"]) == 0
    capsys.readouterr()
    assert app.main(["search", "--index", str(tmp_path / "i"), "--json", "-k", "3", "alpha beta gamma"]) == 0
    hits = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    index = HashingPipeline.load(tmp_path / "i")
    expected = index.search(["alpha beta gamma"], k=3)
    assert [hit["id"] for hit in hits["results"]] == expected.ids[0].tolist()
    np.testing.assert_array_equal(index.encode(["alpha beta gamma"]), model.encode(["alpha beta gamma"]))
    assert app.main(["evaluate", "--model", str(tmp_path / "m"), "--corpus", str(corpus), "--baselines", "itq",
                     "--json"]) == 0
    assert [row["method"] for row in json.loads(capsys.readouterr().out)["results"]] == ["vdsh", "itq"]


def test_hasher_help_lists_the_registry(capsys):
    with pytest.raises(SystemExit):
        app.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f"{name}," in text or f"{name} " in text for name in hasher_names())


def test_unknown_hasher_lists_the_names(tmp_path, corpus, capsys):
    assert _train(corpus, tmp_path / "m", "--hasher", "bert") == 1
    err = capsys.readouterr().err
    assert "train: error: unknown hasher 'bert'" in err and all(repr(name) in err for name in hasher_names())


def test_nash_only_option_is_refused_for_vdsh(tmp_path, corpus, capsys):
    assert _train(corpus, tmp_path / "m", "--hasher", "vdsh", "--neighbours", "3") == 1
    assert "--neighbours does not apply to hasher 'vdsh'" in capsys.readouterr().err
    assert _train(corpus, tmp_path / "m", "--hasher", "vdsh", "--variant", "nash") == 1
    assert "--variant does not apply to hasher 'vdsh'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
