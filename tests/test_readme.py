"""The README's index snippets run as written (the quickstart, rescoring, and the pipeline on
embeddings with a callable embedder), in order, in one namespace, so a renamed or changed API
breaks the suite instead of the README's readers."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_index_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the quickstart saves codes.nidx in the working directory
    # The model snippet needs a corpus (X_train, ...): it is exercised by the model tests instead.
    blocks = [b for b in python_blocks() if "NASH" not in b]
    assert len(blocks) >= 2, "the README lost its index snippets"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["ids"].shape == (5, 10)  # rescore's result
    assert (tmp_path / "codes.nidx").is_file()
    assert namespace["hits"].scores.shape == (3, 5)  # the embeddings snippet, the last one
    assert (tmp_path / "my_pipeline" / "vectors.npz").is_file()
