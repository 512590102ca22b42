"""The speed benchmarks' shared rules (bench/harness.py): one per-query latency definition, strict
JSON, output outside the tracked bench/results/ by default; and bench_flat.py end to end."""
from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from bench_helpers import BENCH, bench_module, strict_json  # noqa: F401 (a fixture)

from nash_index.cli.bench import latency_stats


@pytest.fixture
def harness(bench_module):
    return bench_module("harness")


def test_latency_is_per_query(harness):
    times = list(np.linspace(0.5, 2.0, 30))
    stats = latency_stats(times, 1000)
    assert stats["p50_ms"] == pytest.approx(np.median(times) / 1000 * 1e3)  # a batch call's time over its queries
    assert stats["p99_ms"] == pytest.approx(np.percentile(times, 99) / 1000 * 1e3)
    assert stats["qps"] == pytest.approx(1000 / np.median(times))
    assert latency_stats(times[:3], 1000)["p99_ms"] is None  # too few calls: a p99 would be their maximum
    t = harness.Timing(times, per_call=1000)
    assert t.p50 == pytest.approx(np.median(times) / 1000) and t.stats()["p50_ms"] == pytest.approx(stats["p50_ms"])
    assert harness.Timing(times[:3], per_call=1).p99 is None


def test_json_has_null_for_non_finite_numbers(harness, tmp_path):
    payload = {"a": float("nan"), "b": [np.float64("inf"), 1.5, np.int64(3)], "c": {"d": -math.inf}}
    path = harness.save_json("x", payload, out=tmp_path)
    assert strict_json(path) == {"a": None, "b": [None, 1.5, 3], "c": {"d": None}}
    harness.write_report({"p": float("nan")}, tmp_path, "report", "| x |")  # the quality studies' writer
    assert strict_json(tmp_path / "report.json") == {"p": None}


def test_finite_turns_numpy_and_paths_into_json_values(harness, tmp_path):
    value = {1: (np.float32(0.5), np.array([[1, 2]])), "p": tmp_path, "n": [np.nan, np.inf, None, "x"]}
    assert harness.finite(value) == {"1": [0.5, [[1, 2]]], "p": str(tmp_path), "n": [None, None, None, "x"]}
    assert harness.dumps_strict({"a": np.float64("nan")}, indent=None) == '{"a": null}'


def test_helpers_shared_with_the_cli_have_one_home(harness, monkeypatch):
    """The names nash-index bench uses are the CLI's own objects, not copies; the scripts' faiss
    loading differs only by reading --omp-active from the command line."""
    from nash_index.cli import bench, bench_report

    for name in ("finite", "dumps_strict", "machine_info"):
        assert getattr(harness, name) is getattr(bench_report, name)
    assert harness.latency_stats is bench.latency_stats
    monkeypatch.setattr(sys, "argv", ["bench_flat.py", "--omp-active"])
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setitem(sys.modules, "faiss", None)
    assert harness.import_faiss() is None and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setattr(sys, "argv", ["bench_flat.py"])
    assert harness.import_faiss() is None and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    info = harness.machine_info()
    assert info["cpus"] == os.cpu_count() and {"platform", "machine", "python", "loadavg"} <= set(info)


def test_tracked_results_are_strict_json():
    paths = sorted((BENCH / "results").glob("*.json"))
    assert paths
    for path in paths:
        strict_json(path)


def test_default_output_is_not_tracked(harness):
    p = argparse.ArgumentParser()
    harness.add_speed_args(p, "x")
    default = p.parse_args([]).out
    assert default == harness.OUT_DIR and default != harness.RESULTS_DIR
    if shutil.which("git") is None or not (BENCH.parent / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(default / "flat.json")], cwd=BENCH.parent)
    assert ignored.returncode == 0, f"{default} is not ignored by git"


def test_bench_flat_quick_tiny(bench_module, tmp_path, capsys):
    bench_flat = bench_module("bench_flat")
    bench_flat.main(["--quick", "--n", "4000", "--single-queries", "25", "--batch", "1,64", "--repeats", "1",
                     "--budget", "0.2", "--out", str(tmp_path)])
    payload = strict_json(tmp_path / "flat.json")
    records = payload["records"]
    assert {(r["nbits"], r["batch"], r["threads"]) for r in records} >= {(64, 1, 1), (128, 64, 1)}
    assert all(r["k"] == 10 and r["n"] == 4000 and r["nash_qps"] > 0 and r["nash_p50_ms"] > 0 for r in records)
    assert all((r["nash_p99_ms"] is None) == (r["batch"] > 1) for r in records)
    if "faiss_qps" in records[0]:
        assert all(r["speedup_vs_faiss"] > 0 for r in records)
    assert (tmp_path / "flat.png").stat().st_size > 1000
    assert "p50 ms/q" in capsys.readouterr().out
