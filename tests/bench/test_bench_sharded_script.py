"""bench/bench_sharded.py and bench/bench_auto.py: smoke runs on a few thousand codes write strict
JSON, Markdown (and a PNG), with every sharded / MIH answer checked against the local flat scan."""
from __future__ import annotations

import pytest
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)


def test_bench_sharded_smoke(bench_module, tmp_path, ray_local):
    bench = bench_module("bench_sharded")
    bench.main(["--n", "4000", "--shards", "2", "--quick", "--queries", "10", "--batch", "10",
                "--data", str(tmp_path / "data"), "--out", str(tmp_path), "--name", "smoke"])
    report = strict_json(tmp_path / "smoke.json")
    layouts = [r["layout"] for r in report["rows"]]
    assert layouts[0].startswith("local") and any(layout.startswith("2 shards") for layout in layouts)
    assert {r["shards"] for r in report["fanout"]} == {2}
    assert all(r["batch_qps"] > 0 and r["p50_ms"] > 0 for r in report["rows"])
    assert (tmp_path / "smoke.md").read_text().startswith("# Sharded index on Ray")
    assert (tmp_path / "smoke.png").stat().st_size > 10_000
    assert not list((tmp_path / "data").glob("*.npy"))  # generated codes removed without --keep

def test_bench_auto_smoke(bench_module, tmp_path):
    bench = bench_module("bench_auto")
    status = bench.main(["--n", "3000", "--nbits", "64,128", "--single", "5", "--batch", "20", "--repeats", "1",
                         "--out", str(tmp_path)])
    report = strict_json(tmp_path / "auto.json")
    assert len(report["rows"]) == 4 and {r["auto"] for r in report["rows"]} == {"flat"}  # 3000 codes: flat
    assert status == (0 if all(r["ok"] for r in report["rows"]) else 2)
    assert "auto picks" in (tmp_path / "auto.md").read_text()

pytest.importorskip  # (ray_local skips the sharded smoke run where Ray is missing)
