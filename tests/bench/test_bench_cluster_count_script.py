"""bench/bench_cluster_count.py at a tiny size: both counts built and timed on the same codes, the
pick equal to the index's own automatic count, the --grid counts timed beside them and the best of
all reported, the report written (no speed is asserted)."""
from __future__ import annotations

import numpy as np
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)

import nash_index as ni


def test_bench_cluster_count_smoke(bench_module, tmp_path, capsys):
    bench = bench_module("bench_cluster_count")
    code = bench.main(["--n", "20000", "--nbits", "64", "--shapes", "200:0.05,uniform", "--queries", "20",
                       "--repeats", "1", "--grid", "2", "--out", str(tmp_path)])
    assert code in (0, 2)  # 2: a pick slower than the other count (timings at this size are noise)
    payload = strict_json(tmp_path / "cluster_count.json")
    rows = {r["shape"]: r for r in payload["rows"]}
    assert set(rows) == {"200:0.05", "uniform"}
    for shape, row in rows.items():
        db, _ = bench.code_set(shape, 20000, 20, 64, 0)
        choice = row["choice"]
        assert choice["count"] == ni.ClusterScanIndex.auto_clusters(db)
        assert row["groups"]["clusters"] == choice["from_groups"] and row["size"]["clusters"] == choice["from_size"]
        assert all(row[k]["single_qps"] > 0 and row[k]["batch_qps"] > 0 for k in ("groups", "size"))
        timed = [row["groups"], row["size"], *row["grid"]]
        assert 2 * choice["from_size"] in {x["clusters"] for x in timed}  # twice sqrt(n), unless groups had it
        best = bench.best_of_grid(row)
        assert best in timed and all(best["single_qps"] >= x["single_qps"] for x in timed)
    assert rows["200:0.05"]["choice"]["tight"] and not rows["uniform"]["choice"]["tight"]
    assert rows["uniform"]["size"]["clusters"] == int(np.sqrt(20000))
    md = (tmp_path / "cluster_count.md").read_text()
    assert "| 200:0.05 | 2e+04 | 64 |" in md and "| uniform |" in md
    assert "pick / best, single" in md and "2 x sqrt(n)" in md
    for shape, row in rows.items():  # the last cell: the pick's single q/s over the best count's, never above 1
        line = next(x for x in md.splitlines() if x.startswith(f"| {shape} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[-2].startswith(f"{bench.best_of_grid(row)['clusters']:,} / ") and float(cells[-1]) <= 1.0
    assert "uniform" in capsys.readouterr().out
