"""Every snippet of the README runs as written, so that a renamed API, command or option breaks the
suite instead of the README's readers: each ```python block, and each line of a ```bash block that
is a ``nash-index`` command (run in process through ``nash_index.cli.main``, exit status 0), in the
order of the README, in one namespace and one temporary working directory.

The README's Python writes the files its commands read (``docs.jsonl``, ``codes.npy``, ...). The
other lines of its bash blocks (``./scripts/...``, ``ray start``, ``.venv/bin/python bench/...``)
are not run. ``--address auto`` of "Beyond one machine" joins the cluster of ``ray start``: here the
commands (and its ``ShardedIndex`` snippet) use the test session's own local Ray cluster instead,
started before the first snippet that needs it.

``nash-index bench`` runs in a process of its own, as a reader's would: in this one torch has loaded
OpenMP before faiss, whose threads then spin-wait (the OMP_WAIT_POLICY=PASSIVE that bench asks for
is read when OpenMP loads) and make the faiss reference rows 100x slower on a shared machine.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

from nash_index.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"```(python|bash)\n(.*?)```", re.S)
CLI_PREFIX = "nash-index "


def snippets() -> List[Tuple[str, str]]:
    """``("python", block)`` and ``("cli", line)`` pairs, in the order of the README."""
    out = []
    for lang, body in FENCE.findall(README.read_text(encoding="utf-8")):
        if lang == "python":
            out.append(("python", body))
        else:
            out.extend(("cli", line) for line in body.splitlines() if line.startswith(CLI_PREFIX))
    return out


def cli_args(line: str) -> List[str]:
    """The arguments of a README command line (its comment dropped), without ``--address ADDR``."""
    args = shlex.split(line, comments=True)[1:]
    while "--address" in args:
        at = args.index("--address")
        del args[at:at + 2]
    return args


def needs_ray(kind: str, text: str) -> bool:
    return "ShardedIndex" in text if kind == "python" else cli_args(text)[:1] == ["shard"]


def test_snippets_are_found():
    found = snippets()
    blocks = [text for kind, text in found if kind == "python"]
    commands = [cli_args(text)[0] for kind, text in found if kind == "cli"]
    assert len(blocks) >= 8, "the README lost Python snippets"
    assert any("NASH(" in b for b in blocks) and any("ni.HashingPipeline(" in b for b in blocks)
    for command in ("train", "build", "search", "evaluate", "bench", "info", "shard"):
        assert command in commands, f"the README's command line walkthrough lost nash-index {command}"
    assert any("--codes" in text for kind, text in found if kind == "cli"), "bring-your-own-codes is gone"


def test_readme_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # every snippet writes its files here
    monkeypatch.setenv("NASH_INDEX_CACHE", str(tmp_path / "cache"))  # the docstring corpus is collected afresh
    monkeypatch.delenv("NASH_INDEX_DATA", raising=False)
    monkeypatch.setenv("NASH_INDEX_DEBUG", "1")  # a failing command raises with its traceback
    namespace: dict = {}
    timings = []
    for kind, text in snippets():
        if needs_ray(kind, text):
            from conftest import start_local_ray

            start_local_ray()  # the test session's cluster; without it ray.init() may join another one
        t0 = time.perf_counter()
        if kind == "python":
            exec(compile(text, str(README), "exec"), namespace)  # noqa: S102 - our own README
        elif cli_args(text)[0] == "bench":
            done = subprocess.run([sys.executable, "-m", "nash_index", *cli_args(text)], capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, f"`{text}` exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        else:
            status = main(cli_args(text))
            assert status == 0, f"`{text}` exited with {status}:\n{capsys.readouterr()}"
        timings.append((time.perf_counter() - t0, text.strip().splitlines()[0][:80]))
    out = capsys.readouterr().out
    for seconds, first_line in sorted(timings, reverse=True)[:5]:  # where the time goes (pytest -s shows it)
        print(f"{seconds:5.1f} s  {first_line}")

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
