"""Every snippet of the README runs as written (``doc_blocks`` says what runs and how: the same
rules as the pages of docs/, ``tests/test_docs.py``), in the order of the README, in one
namespace and one temporary working directory. The README's Python writes the files its commands
read (``docs.jsonl``, ``codes.npy``, ...)."""
from __future__ import annotations

from pathlib import Path

from doc_blocks import blocks, cli_args, run_page

README = Path(__file__).resolve().parents[1] / "README.md"


def test_snippets_are_found():
    found = blocks(README)
    python = [text for kind, text in found if kind == "python"]
    commands = [cli_args(text)[0] for kind, text in found if kind == "cli"]
    assert len(python) >= 8, "the README lost Python snippets"
    assert any("NASH(" in b for b in python) and any("ni.HashingPipeline(" in b for b in python)
    for command in ("train", "build", "search", "evaluate", "bench", "info", "shard"):
        assert command in commands, f"the README's command line walkthrough lost nash-index {command}"
    assert any("--codes" in text for kind, text in found if kind == "cli"), "bring-your-own-codes is gone"


def test_readme_runs(tmp_path, monkeypatch, capsys):
    namespace, out = run_page(README, tmp_path, monkeypatch, capsys)
    # the quickstart and rescoring
    assert (tmp_path / "codes.nidx").is_file()
    assert namespace["train_codes"].shape == (namespace["X_train"].shape[0], 4)  # NASH(nbits=32) codes
    # from text to neighbours: Python, then the same from the command line
    assert (tmp_path / "my_index").is_dir() and (tmp_path / "docs.jsonl").is_file()
    for directory in ("model", "index", "myindex"):
        assert (tmp_path / directory).is_dir(), directory
    assert (tmp_path / "nash_index_bench" / "bench.json").is_file()
    assert "query: compress data" in out and "precision@10 " in out
    # embeddings, then beyond one machine
    assert namespace["hits"].scores.shape == (3, 5)
    assert (tmp_path / "my_pipeline" / "vectors.npz").is_file()
    assert (tmp_path / "shards" / "manifest.json").is_file() and "sharded index shards:" in out
