"""bench_limits --merge: a merged file's groups replace the table's, and merging the same file
again leaves one line of it in the header (it used to add one per merge)."""
from __future__ import annotations

import json

from bench_helpers import bench_module  # noqa: F401 (a fixture)


def test_merging_a_file_again_replaces_its_rows_and_its_line(bench_module, tmp_path):
    bench = bench_module("bench_limits")
    row = {"goal": "g", "met": True, "shape": "s", "unit": "u"}
    payload = {"meta": {"argv": []}, "rows": [dict(row, group="a", ours=1.0), dict(row, group="b", ours=2.0)]}
    scale = tmp_path / "limits_scale.json"
    for ours in (3.0, 4.0):  # the same file merged twice, its figures changed in between
        scale.write_text(json.dumps({"meta": {"argv": ["x"], "load_before": [1.0]},
                                     "rows": [dict(row, group="b", ours=ours), dict(row, group="c", ours=5.0)]}))
        payload = bench.merged(payload, [scale])
    assert [(r["group"], r["ours"]) for r in payload["rows"]] == [("a", 1.0), ("b", 4.0), ("c", 5.0)]
    assert payload["meta"]["merged"] == [{"file": "limits_scale.json", "argv": ["x"], "load_before": [1.0]}]
