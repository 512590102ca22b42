"""The demo's lengths trained side by side: worker processes give exactly the rows that training
one length after another in this process gives (the oracle), the defaults and --full choose the
lengths, and the progress written to a file (not a terminal) is a line per stage."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")
pytest.importorskip("torch")

from nash_index.cli import (
    app,  # noqa: E402
    demo_train,  # noqa: E402
)
from nash_index.cli.demo import demo_bits  # noqa: E402
from nash_index.datasets.docstrings import DEMO_MODULES, docstring_corpus  # noqa: E402

TIMING = ("train_s", "build_s", "cpu_s")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASH_INDEX_CACHE", str(tmp_path_factory.mktemp("cache")))
        return docstring_corpus(DEMO_MODULES, packages=(), min_query_label=5)


def _jobs(bits, tmp_path):
    return [demo_train.LengthJob(nbits=b, seed=0, epochs=2, patience=10, threads=None, embeddings=None, k=20,
                                 verbose=False, save_to=str(tmp_path / f"pipe{b}") if b == bits[0] else None)
            for b in bits]


def _untimed(rows):
    return [{key: value for key, value in row.items() if key not in TIMING} for row in rows]


def test_processes_give_the_rows_of_one_length_after_another(raw, tmp_path):
    queries, y_q = list(raw.test_texts[:60]), raw.test_labels[:60]
    seen = []
    parallel = demo_train.train_lengths(raw, queries, y_q, _jobs([16, 8], tmp_path / "a"), 2, seen.append)
    sequential = demo_train.train_lengths(raw, queries, y_q, _jobs([16, 8], tmp_path / "b"), 1, lambda row: None)
    assert [r["bits"] for r in parallel] == [16, 8]  # the order of the jobs, whichever finished first
    assert sorted(r["bits"] for r in seen) == [8, 16]  # each reported once, as it finished
    assert _untimed(parallel) == _untimed(sequential)
    for row in parallel:
        assert 0.0 <= row["index_order"] <= 1.0 and 1 <= row["best_epoch"] <= row["epochs"] <= 2
        assert row["n_indexed"] == len(raw.train_texts) and row["cpu_s"] > 0
    assert (tmp_path / "a" / "pipe16" / "manifest.json").is_file()  # only the first job's pipeline is saved
    assert not (tmp_path / "a" / "pipe8").exists()


def test_lengths_by_default_full_and_given():
    parse = app.build_parser().parse_args
    assert demo_bits(parse(["demo"])) == [32, 64]
    assert demo_bits(parse(["demo", "--full"])) == [16, 32, 64, 128]
    assert demo_bits(parse(["demo", "--full", "--bits", "64,16,64"])) == [64, 16]  # --bits wins, duplicates dropped


def test_default_jobs_fit_the_usable_cpus(monkeypatch):
    monkeypatch.setattr(demo_train, "usable_cpus", lambda: 2)
    assert demo_train.default_jobs(4, None) == 2 and demo_train.default_jobs(1, None) == 1
    assert demo_train.default_jobs(2, 2) == 1  # two torch threads each fill both CPUs
    monkeypatch.setattr(demo_train, "usable_cpus", lambda: 8)
    assert demo_train.default_jobs(4, 1) == 4 and demo_train.default_jobs(4, 3) == 2


def test_stopped_early_tells_early_stopping_from_the_epoch_cap():
    for run, best, stopped in [(40, 30, True), (100, 90, True), (100, 95, False), (100, 100, False)]:
        assert demo_train.stopped_early({"epochs_run": run, "best_epoch": best}, 100, 10) is stopped


def test_progress_in_a_log_file_is_a_line_per_stage(raw, tmp_path):
    """Output to a file, not a terminal: no carriage-return redraws, one line per stage."""
    log = tmp_path / "demo.log"
    env = dict(os.environ, NASH_INDEX_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    env.pop("NASH_INDEX_DEBUG", None)
    with open(log, "w", encoding="utf-8") as fh:  # stdout and stderr both to the file
        done = subprocess.run([sys.executable, "-m", "nash_index", "demo", "--corpus", "docstrings", "--max-docs", "300",
                               "--bits", "8,16", "--epochs", "1", "--baselines", "lsh", "--no-plot", "--out", str(tmp_path / "out")],
                              stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=300)
    text = log.read_text(encoding="utf-8")
    assert done.returncode == 0, text
    assert "\r" not in text, "progress bars redrawn in a log file"
    lines = text.splitlines()
    assert sum(line.startswith("training NASH at 8, 16 bits (2 processes side by side") for line in lines) == 1
    for bits in (8, 16):
        assert sum(line.startswith(f"NASH {bits:3d} bits: trained in ") for line in lines) == 1
    assert any(line.startswith("baselines (LSH) at 8, 16 bits") for line in lines)
