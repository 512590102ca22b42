"""``nash-index`` / ``python -m nash_index`` smoke tests through subprocesses, on tiny data.

The corpus is the docstrings of a few standard-library modules (the demo's embedded default),
written once as a labelled JSONL file; one small model is trained once and shared.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from nash_index.datasets.docstrings import DEMO_MODULES, docstring_corpus  # noqa: E402

TIMEOUT = 300


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    out = dict(os.environ, NASH_INDEX_CACHE=str(cache), NASH_INDEX_DATA=str(cache / "no-data"),
               OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    out.pop("NASH_INDEX_DEBUG", None)
    return out


def run(args: List[str], env: dict, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nash_index", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=TIMEOUT)


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def assert_one_line_error(proc: subprocess.CompletedProcess, status: int, *fragments: str) -> None:
    assert proc.returncode == status, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, env) -> Path:
    """A folder holding corpus.jsonl (labelled docstrings) and queries.txt."""
    root = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASH_INDEX_CACHE", env["NASH_INDEX_CACHE"])
        raw = docstring_corpus(DEMO_MODULES, packages=(), min_query_label=5)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for texts, labels, keys in ((raw.train_texts, raw.train_labels, raw.train_keys),
                                    (raw.test_texts, raw.test_labels, raw.test_keys)):
            for text, row, key in zip(texts, labels, keys):
                label = raw.label_names[int(row.argmax())]
                fh.write(json.dumps({"text": f"{key}. {text}", "label": label}) + "\n")
    (root / "lines.txt").write_text("\n".join(raw.train_texts[:60]) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def model(workdir, env) -> Path:
    proc = run(["train", "--corpus", "corpus.jsonl", "--bits", "16", "--epochs", "2", "--out", "model",
                "--quiet"], env, workdir)
    assert_ok(proc)
    # --quiet hides the progress bar only: the corpus line, the epoch table and the summary stay
    assert "fit:" not in proc.stderr and "epoch/s" not in proc.stderr
    assert proc.stdout.startswith("corpus ") and "val P@100" in proc.stdout and "model written to model" in proc.stdout
    return workdir / "model"


@pytest.fixture(scope="module")
def index(workdir, env, model) -> Path:
    proc = run(["build", "--model", "model", "--corpus", "corpus.jsonl", "--out", "index", "--quiet"], env, workdir)
    assert_ok(proc)
    assert "index written to index" in proc.stdout  # --quiet hides progress bars only
    return workdir / "index"


# ---- the subcommands ---------------------------------------------------------------------------
def test_train_prints_epochs_and_writes_model(workdir, env):
    proc = run(["train", "--corpus", "corpus.jsonl", "--bits", "16", "--epochs", "2", "--out", "m2"], env, workdir)
    assert_ok(proc)
    assert "val P@100" in proc.stdout and "model written to m2" in proc.stdout
    assert "fit:" in proc.stderr  # the progress bar (hidden by --quiet)
    assert (workdir / "m2" / "manifest.json").is_file() and (workdir / "m2" / "encoder.npz").is_file()


def test_train_baseline_on_unlabelled_text_file(workdir, env):
    proc = run(["train", "--corpus", "lines.txt", "--hasher", "lsh", "--bits", "32", "--out", "m_lsh"], env, workdir)
    assert_ok(proc)
    assert json.loads((workdir / "m_lsh" / "manifest.json").read_text())["hasher_kind"] == "lsh"


def test_build_writes_index(index):
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["index"]["ntotal"] > 200 and (index / "index.nidx").is_file()


def test_search_prints_keys_and_distances(workdir, env, index):
    proc = run(["search", "--index", "index", "-k", "3", "parse a date string", "read a csv file"], env, workdir)
    assert_ok(proc)
    assert proc.stdout.count("query:") == 2
    assert proc.stdout.count(" d=") == 6 and "corpus.jsonl:" in proc.stdout  # keys: file:line


def test_search_json_and_stdin(workdir, env, index, model):
    proc = run(["search", "--index", "index", "--model", "model", "--json", "-k", "2"], env, workdir,
               stdin="compress data\nrandom numbers\n")
    assert_ok(proc)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["query"] for r in rows] == ["compress data", "random numbers"]
    assert all(len(r["results"]) == 2 and {"key", "distance", "id"} <= set(r["results"][0]) for r in rows)


def test_search_rejects_another_model(workdir, env, index):
    proc = run(["search", "--index", "index", "--model", "m_other", "x"], env, workdir)
    assert_one_line_error(proc, 1, "no model directory")
    other = run(["train", "--corpus", "lines.txt", "--hasher", "lsh", "--bits", "16", "--out", "m_other"], env, workdir)
    assert_ok(other)
    proc = run(["search", "--index", "index", "--model", "m_other", "x"], env, workdir)
    assert_one_line_error(proc, 1, "not built with the model")


def test_evaluate_reports_both_tie_rules(workdir, env, model):
    proc = run(["evaluate", "--model", "model", "--corpus", "corpus.jsonl", "--baselines", "lsh,itq"], env, workdir)
    assert_ok(proc)
    assert "ties by id" in proc.stdout and "random ties" in proc.stdout
    assert all(m in proc.stdout for m in ("auto", "lsh", "itq"))
    proc = run(["evaluate", "--model", "model", "--corpus", "corpus.jsonl", "--json", "-k", "10"], env, workdir)
    assert_ok(proc)
    result = json.loads(proc.stdout)
    # the model (train's default, hasher auto: "auto:<the kept one>") beside the default baselines,
    # the strongest and the simplest
    methods = {r["method"] for r in result["results"]}
    assert methods - {"itq", "lsh"} in ({"auto:nash"}, {"auto:itq"}) and len(methods) == 3
    assert all(0.0 <= r["index_order"] <= 1.0 and 0.0 <= r["expected"] <= 1.0 for r in result["results"])


def test_bench_writes_table_json_png(workdir, env):
    proc = run(["bench", "--n", "3000", "--bits", "32,64", "--k", "5", "--batch", "1,50", "--threads", "1,all",
                "--index", "flat,mih", "--out", "bench"], env, workdir)
    assert_ok(proc)
    assert "queries/s" in proc.stdout and "MultiIndexHashing" in proc.stdout
    result = json.loads((workdir / "bench" / "bench.json").read_text())
    assert len(result["results"]) == 2 * 2 * 2 * 2 and result["environment"]["simd_level"]
    assert (workdir / "bench" / "bench.png").stat().st_size > 1000


def test_demo_runs_end_to_end(workdir, env):
    proc = run(["demo", "--corpus", "corpus.jsonl", "--bits", "16,32", "--epochs", "2", "--out", "demo",
                "--query", "parse a date string", "--quiet"], env, workdir)
    assert_ok(proc)
    out = proc.stdout
    assert "data: corpus" in out and "precision@100" in out and "queries/s" in out and '"parse a date string"' in out
    table = [line.split() for line in out.splitlines() if line.startswith("  ") and line.split()[:1] in
             (["NASH"], ["PCA-ITQ"], ["LSH"])]  # two tables: ties by id (with train s), then random ties
    assert [row[0] for row in table] == ["NASH", "PCA-ITQ", "LSH"] * 2
    assert all(len(row) == 4 for row in table[:3]) and all(len(row) == 3 for row in table[3:])
    assert "exact TF-IDF cosine (float vectors, no hashing)" in out

    def reject(name):
        raise ValueError(f"demo.json holds {name}")

    report = json.loads((workdir / "demo" / "demo.json").read_text(), parse_constant=reject)
    rows = report["results"]
    assert {(r["method"], r["bits"]) for r in rows} == {(m, b) for m in ("nash", "itq", "lsh") for b in (16, 32)}
    assert all(0.0 <= r["index_order"] <= 1.0 and 0.0 <= r["expected"] <= 1.0 and r["train_s"] >= 0 for r in rows)
    nash = [r for r in rows if r["method"] == "nash"]
    assert all(1 <= r["best_epoch"] <= r["epochs"] <= 2 and not r["stopped_early"] for r in nash)
    assert "stopped by the --epochs cap (2)" in out
    assert 0.0 < report["cosine"]["precision"] <= 1.0 and report["main_bits"] == 16
    assert report["headline"].startswith("NASH 16 bits: precision@100 ") and report["headline"] in out
    best = max((r for r in rows if r["bits"] == 16 and r["method"] != "nash"), key=lambda r: r["index_order"])
    assert {"itq": "PCA-ITQ", "lsh": "LSH"}[best["method"]] in report["headline"]
    assert report["latency"]["p50_ms"] > 0 and report["latency"]["bits"] == 16
    assert (workdir / "demo" / "demo.png").stat().st_size > 1000
    assert (workdir / "demo" / "pipeline" / "manifest.json").is_file()


def test_demo_uses_embedded_docstrings_without_data(workdir, env):
    """No --corpus and no corpus files: the demo falls back to the docstring corpus and says so."""
    proc = run(["demo", "--bits", "16", "--epochs", "1", "--max-docs", "300", "--baselines", "none",
                "--out", "demo_default", "--no-plot", "--quiet"], env, workdir)
    assert_ok(proc)
    assert "embedded default corpus" in proc.stdout and "docstrings" in proc.stdout
    assert "NASH 16 bits: precision@100 " in proc.stdout and "(no baseline run)" in proc.stdout


def test_info(workdir, env):
    proc = run(["info"], env, workdir)
    assert_ok(proc)
    assert "simd_level" in proc.stdout and "torch" in proc.stdout
    info = json.loads(run(["info", "--json"], env, workdir).stdout)
    assert info["threads"] >= 1 and "cuda" in info


def test_version_and_console_script(workdir, env):
    proc = run(["--version"], env, workdir)
    assert_ok(proc)
    assert proc.stdout.startswith("nash_index ")
    script = Path(sys.executable).with_name("nash-index")
    if not script.exists():
        pytest.skip("console script not installed next to the interpreter")
    direct = subprocess.run([str(script), "--version"], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert direct.returncode == 0 and direct.stdout == proc.stdout


# ---- user errors: one line on stderr, non-zero exit, no traceback ------------------------------
@pytest.mark.parametrize("args, status, fragment", [
    (["train", "--corpus", "missing.jsonl", "--out", "x"], 1, "unknown corpus 'missing.jsonl'"),
    (["train", "--corpus", "reuters", "--out", "x"], 1, "corpus not found"),
    (["train", "--corpus", "corpus.jsonl", "--bits", "12", "--out", "x"], 2, "multiple of 8"),
    (["train", "--corpus", "corpus.jsonl", "--bits", "abc", "--out", "x"], 2, "--bits: expected a positive"),
    (["train", "--corpus", "corpus.jsonl", "--hasher", "magic", "--out", "x"], 1, "unknown hasher"),
    (["train", "--out", "x"], 2, "--corpus"),
    (["build", "--model", "nowhere", "--corpus", "corpus.jsonl", "--out", "x"], 1, "no model directory"),
    (["search", "--index", "nowhere", "query"], 1, "no index at"),
    (["search", "--index", "corpus.jsonl", "query"], 1, "--model"),
    (["evaluate", "--model", "model", "--corpus", "lines.txt"], 1, "labelled corpus"),
    (["bench", "--n", "-5"], 2, "positive count"),
    (["bench", "--threads", "two"], 2, "count"),
    (["frobnicate"], 2, "invalid choice"),
])
def test_user_errors_are_one_line(workdir, env, model, args, status, fragment):
    assert_one_line_error(run(args, env, workdir), status, fragment)


def test_not_a_pipeline_directory(workdir, env):
    (workdir / "plain_dir").mkdir(exist_ok=True)
    assert_one_line_error(run(["search", "--index", "plain_dir", "q"], env, workdir), 1, "not a saved pipeline")
