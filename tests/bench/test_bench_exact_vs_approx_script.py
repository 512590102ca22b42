"""bench/bench_exact_vs_approx.py end to end on a few thousand codes: our exact kinds checked equal
to FlatIndex, faiss IVF / HNSW tuned to the target recall, strict JSON, and the rows handed to
bench_limits (keys shape, ours, reference, bound, ratio, unit, target, met)."""
from __future__ import annotations

import pytest
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)

ROW_KEYS = {"shape", "ours", "reference", "bound", "ratio", "unit", "target", "met"}


def test_smoke_run_writes_rows(bench_module, tmp_path, capsys):
    pytest.importorskip("faiss")
    bench = bench_module("bench_exact_vs_approx")
    bench.main(["--n", "4000", "--centres", "40", "--flips", "0.08", "--nq", "30", "--budget", "0.3", "--rounds", "2",
                "--name", "smoke", "--out", str(tmp_path)])
    assert "cluster: single" in capsys.readouterr().out
    report = strict_json(tmp_path / "smoke.json")
    (record,) = report["records"]
    for name in ("cluster", "mih", "ivf", "hnsw"):
        assert record[name]["single_qps"] > 0 and record[name]["batch_qps"] > 0
        rounds = [r["single_qps"] for r in record[name]["rounds"]]
        assert len(rounds) == 2 and record[name]["single_qps"] == pytest.approx(sum(rounds) / 2)  # median of 2
    assert record["ivf"]["recall"] >= 0.95 or not record["ivf"]["reached"]
    rows = report["rows"]
    assert len(rows) == 4 and all(set(r) == ROW_KEYS for r in rows)
    for r in rows:
        assert r["ratio"] == pytest.approx(r["ours"] / r["reference"]) and r["unit"] == "q/s"
    assert "| 4,000 codes, 40 centres, 8% |" in (tmp_path / "smoke.md").read_text()
