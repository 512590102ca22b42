"""Running the code of a Markdown page (the README, the pages of docs/) as written, so that a
renamed API, command or option breaks the suite instead of the page's readers.

What runs, in the order of the page, in one namespace and one working directory: each
```` ```python ```` block, and each line of a ```` ```bash ```` block that is a ``nash-index``
command (run in process through ``nash_index.cli.main``, exit status 0). The other lines of a bash
block (``./scripts/...``, ``ray start``, ``.venv/bin/python bench/...``) are not run, nor blocks of
any other language (```` ```text ````, ```` ```console ````): those are the markers for what a
reader runs but a test cannot.

``--address ADDR`` (joining the cluster of ``ray start``) is dropped: those commands, and Python
blocks that use ``ShardedIndex``, use the test session's own local Ray cluster, started before the
first block that needs it. ``nash-index bench`` runs in a process of its own, as a reader's would:
in this one torch has loaded OpenMP before faiss, whose threads then spin-wait (the
OMP_WAIT_POLICY=PASSIVE that bench asks for is read when OpenMP loads) and make the faiss reference
rows 100x slower on a shared machine.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
CLI_PREFIX = "nash-index "


def blocks(page: Path) -> List[Tuple[str, str]]:
    """``("python", block)`` and ``("cli", line)`` pairs of ``page``, in its order."""
    out = []
    for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
        if lang == "python":
            out.append(("python", body))
        elif lang == "bash":
            out.extend(("cli", line) for line in body.splitlines() if line.startswith(CLI_PREFIX))
    return out


def cli_args(line: str) -> List[str]:
    """The arguments of a command line (its comment dropped), without ``--address ADDR``."""
    args = shlex.split(line, comments=True)[1:]
    while "--address" in args:
        at = args.index("--address")
        del args[at:at + 2]
    return args


def needs_ray(kind: str, text: str) -> bool:
    return "ShardedIndex" in text if kind == "python" else cli_args(text)[:1] == ["shard"]


def run_page(page: Path, tmp_path: Path, monkeypatch: Any, capsys: Any) -> Tuple[Dict[str, Any], str]:
    """Runs ``page``'s blocks in ``tmp_path`` (its working directory, with a fresh corpus cache);
    returns the namespace of its Python blocks and what it printed. A failing block fails with
    the page and the block's first line."""
    from nash_index.cli import main

    monkeypatch.chdir(tmp_path)  # every block writes its files here
    monkeypatch.setenv("NASH_INDEX_CACHE", str(tmp_path / "cache"))  # the docstring corpus is collected afresh
    monkeypatch.delenv("NASH_INDEX_DATA", raising=False)
    monkeypatch.setenv("NASH_INDEX_DEBUG", "1")  # a failing command raises with its traceback
    namespace: Dict[str, Any] = {"__name__": f"doc_page_{page.stem}"}
    timings = []
    for kind, text in blocks(page):
        if needs_ray(kind, text):
            from conftest import start_local_ray

            start_local_ray()  # the test session's cluster; without it ray.init() may join another one
        t0 = time.perf_counter()
        if kind == "python":
            exec(compile(text, str(page), "exec"), namespace)  # noqa: S102 - our own pages
        elif cli_args(text)[0] == "bench":
            done = subprocess.run([sys.executable, "-m", "nash_index", *cli_args(text)], capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, f"`{text}` exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        else:
            status = main(cli_args(text))
            assert status == 0, f"{page.name}: `{text}` exited with {status}:\n{capsys.readouterr()}"
        timings.append((time.perf_counter() - t0, text.strip().splitlines()[0][:80]))
    out = capsys.readouterr().out
    for seconds, first_line in sorted(timings, reverse=True)[:5]:  # where the time goes (pytest -s shows it)
        print(f"{seconds:5.1f} s  {first_line}")
    return namespace, out
