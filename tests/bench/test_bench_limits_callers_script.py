"""bench/bench_limits.py's caller rows at a tiny size: every caller count of every kind has its
share, its context switches per call and the GIL reference of the same run (hashlib.sha256, whose
own shares are checked against its runs); the markdown shows the reference (no speed is asserted)."""
from __future__ import annotations

import pytest
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)


def test_caller_rows_carry_the_gil_reference(bench_module, tmp_path):
    bench = bench_module("bench_limits")
    bench.main(["--rows", "callers", "--runs", "1", "--callers-n", "20K", "--caller-seconds", "0.05",
                "--callers", "1,2", "--caller-kinds", "flat,mih", "--no-plot", "--name", "smoke",
                "--out", str(tmp_path)])
    rows = strict_json(tmp_path / "smoke.json")["rows"]
    assert [(r["kind"], r["callers"]) for r in rows] == [("flat", 1), ("flat", 2), ("mih", 1), ("mih", 2)]
    for r in rows:
        ref = r["gil_reference"]
        assert ref["call"] == "hashlib.sha256 of 40 kB" and ref["qps"] > 0 and ref["switches_per_call"] >= 0
        assert r["switches_per_call"] >= 0 and 0 < r["share_of_best_cpu"] <= 1
        (run,) = ref["runs"]  # one run: the share is this count's calls per CPU second over the best count's
        best = max(x["gil_reference"]["runs"][0]["qps_cpu"] for x in rows)
        assert ref["share_of_best_cpu"] == pytest.approx(run["qps_cpu"] / best)
    # the reference is measured once per run, for every kind alike
    assert rows[0]["gil_reference"] == rows[2]["gil_reference"]
    assert "[sha256 ref " in (tmp_path / "smoke.md").read_text()
