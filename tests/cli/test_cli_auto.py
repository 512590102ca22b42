"""``nash-index train --hasher auto`` (issue #16): both candidates train, the summary says which
was kept and why, and the model directory records the choice."""
from __future__ import annotations

import json
import random

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from nash_index.cli import app  # noqa: E402
from nash_index.text import auto_select  # noqa: E402

WORDS = {"earn": "profit net quarter dividend shares income revenue loss cents",
         "grain": "wheat corn harvest tonnes crop export farmers bushels acres",
         "crude": "oil barrels opec prices refinery output pipeline gasoline"}


@pytest.fixture
def corpus(tmp_path):
    """A labelled JSONL corpus of 200 documents in three topics (100 train / 50 validation / 50 test)."""
    rng = random.Random(3)
    path = tmp_path / "c.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(200):
            topic = rng.choice(sorted(WORDS))
            fh.write(json.dumps({"text": " ".join(rng.choices(WORDS[topic].split(), k=10)), "label": topic}) + "\n")
    return path


def train(capsys, corpus, out, *extra) -> str:
    status = app.main(["train", "--corpus", str(corpus), "--test-fraction", "0.5", "--hasher", "auto", "--bits", "16",
                       "--epochs", "2", "--batch-size", "32", "--threads", "1", "--quiet", "--out", str(out), *extra])
    stdout, stderr = capsys.readouterr()
    assert status == 0, stderr
    return stdout


def test_help_lists_auto(capsys):
    with pytest.raises(SystemExit):
        app.main(["train", "--help"])
    assert "auto (default, as HashingPipeline's): train itq, then nash warm-started" in " ".join(capsys.readouterr().out.split())


def test_train_auto_says_what_it_kept_and_why(corpus, tmp_path, capsys):
    pytest.importorskip("torch")
    out = train(capsys, corpus, tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    info = manifest["train_info"]
    record, kept = info["auto"], info["hasher"]
    assert manifest["hasher_kind"] == "auto" and manifest["hasher"]["kind"] == kept == record["kept"]
    assert manifest["hasher_params"]["epochs"] == 2  # the NASH candidate's options
    assert auto_select.auto_summary(record, with_count=True) in out.splitlines()
    assert "validation precision@100" in out and "on 50 validation documents" in out
    assert f"trained auto (kept {kept}) (16 bits) on 100 documents" in out
    best = max(record["scores"].values())
    assert kept == ("nash" if record["scores"]["nash"] == best else "itq")


@pytest.mark.parametrize("nash,itq,kept,name", [(0.2, 0.7, "itq", "PCA-ITQ"), (0.7, 0.2, "nash", "NASH")])
def test_train_auto_keeps_the_higher_score(corpus, tmp_path, capsys, monkeypatch, nash, itq, kept, name):
    pytest.importorskip("torch")
    from nash_index.baselines import PCAITQ

    monkeypatch.setattr(auto_select, "validation_precision",
                        lambda encoder, *a, **kw: itq if isinstance(encoder, PCAITQ) else nash)
    out = train(capsys, corpus, tmp_path / "m")
    other = "NASH" if kept == "itq" else "PCA-ITQ"
    assert (f"hasher=auto kept {name}: validation precision@100 {max(nash, itq):.4f} vs {other} "
            f"{min(nash, itq):.4f} on 50 validation documents") in out.splitlines()
    assert ("val P@100" in out) == (kept == "nash")  # NASH's epoch table only when NASH is kept
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["hasher"]["kind"] == kept



def test_evaluate_names_the_hasher_auto_kept(tmp_path, capsys, corpus):
    """``evaluate`` reports an auto pipeline as ``auto:<kept kind>`` beside the baselines."""
    train(capsys, corpus, tmp_path / "m")
    kept = json.loads((tmp_path / "m" / "manifest.json").read_text())["train_info"]["hasher"]
    assert app.main(["evaluate", "--model", str(tmp_path / "m"), "--corpus", str(corpus), "--test-fraction", "0.5",
                     "--json", "-k", "10"]) == 0
    methods = [r["method"] for r in json.loads(capsys.readouterr().out)["results"]]
    assert methods == [f"auto:{kept}", "itq", "lsh"]
