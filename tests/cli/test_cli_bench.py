"""``nash-index bench`` in process on tiny sizes: the faiss reference and its ratios, ``auto (...)``
rows, per-query latencies, strict JSON, ``--out`` and the default output folder. Never timings."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nash_index as ni
from nash_index.cli import bench
from nash_index.cli.app import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["bench", "--quick", "--n", "3000", "--batch", "1,40", "--no-plot"]


def strict_json(path: Path):
    def refuse(name: str):
        raise ValueError(f"{path} holds {name}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_quick_tiny_with_faiss(tmp_path, capsys):
    pytest.importorskip("faiss")
    assert main([*TINY, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "p50 ms/query" in out and "x faiss" in out and "call time / batch size" in out
    payload = strict_json(tmp_path / "bench.json")
    rows, faiss_rows = payload["results"], payload["faiss"]
    assert {r["index"] for r in rows} == {"FlatIndex", "MultiIndexHashing", "auto (mih)"} or \
        {r["index"] for r in rows} == {"FlatIndex", "MultiIndexHashing", "auto (flat)"}
    assert len(rows) == 2 * 3 * 2  # bits 64,128 x flat/mih/auto x batch 1,40 (k 10, all threads)
    assert len(faiss_rows) == 2 * 2 and all(r["index"] == "faiss IndexBinaryFlat" for r in faiss_rows)
    assert payload["environment"]["faiss"] and payload["faiss_note"] is None
    for r in rows:
        assert r["qps"] > 0 and r["p50_ms"] > 0 and r["x_faiss"] > 0
        # 100 single queries give a p99; 2 calls over a batch do not (null, not NaN)
        assert (r["p99_ms"] is None) == (r["batch"] > 1)


def test_without_faiss_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "import_faiss", lambda: None)
    assert main([*TINY, "--bits", "64", "--index", "auto", "--out", str(tmp_path), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "faiss: not importable" in out
    payload = strict_json(tmp_path / "bench.json")
    assert payload["faiss"] == [] and "not importable" in payload["faiss_note"]
    assert all(r["x_faiss"] is None and r["index"].startswith("auto (") for r in payload["results"])
    environment = payload["environment"]  # the library's facts and the benchmarks' shared machine_info
    assert environment["faiss"] is None and environment["nash_index"] == ni.__version__
    assert environment["cpus"] == os.cpu_count() and len(environment["loadavg"]) == 3


def test_png_and_default_out_folder(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--n", "2000", "--bits", "32", "--batch", "1,20", "--threads", "1", "--no-faiss"]) == 0
    assert "faiss: skipped" in capsys.readouterr().out
    assert strict_json(tmp_path / "nash_index_bench" / "bench.json")["results"]
    assert (tmp_path / "nash_index_bench" / "bench.png").stat().st_size > 1000
    if (REPO / ".git").exists():  # run from the repository root, the default folder is ignored by git
        ignored = subprocess.run(["git", "check-ignore", "-q", "nash_index_bench/bench.json"], cwd=REPO)
        assert ignored.returncode == 0


def test_log_axis_starts_on_a_decade():
    from nash_index.cli.bench_report import log_limits

    assert log_limits([5300.0, 41000.0]) == (1000.0, 100000.0)
    assert log_limits([]) == (1.0, 10.0)


@pytest.mark.parametrize("omp_active, preset, expected", [
    (False, None, "PASSIVE"),  # faiss's OpenMP threads must not spin on a shared machine
    (True, None, None),  # asked for the active default: left alone
    (False, "ACTIVE", "ACTIVE"),  # the user's choice wins
])
def test_import_faiss_sets_the_passive_wait_policy(monkeypatch, omp_active, preset, expected):
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if faiss were not installed
    assert bench.import_faiss(omp_active=omp_active) is None
    assert os.environ.get("OMP_WAIT_POLICY") == expected
