"""Issue 25's rows measured by the long benchmarks, as rows of bench_limits' table.

    python bench/limits_scale.py bench/results/billion_1e9.json bench/results/billion_1e9_c1000.json \\
        bench/results/exact_vs_approx_10M.json --out bench/results/limits_scale.json
    python bench/bench_limits.py --from-json bench/results/limits.json \\
        --merge bench/results/limits_scale.json --name limits --out bench/results

The 10^9 rows (``bench_billion.py``: 10-NN p99 over its tail queries, build, memory, speed-up over
the flat scan of the same run) and the 10^7 exact-vs-approximate rows (``bench_exact_vs_approx.py``)
take minutes to hours, so ``bench_limits.py`` does not run them: this turns their JSON into a
``{"meta", "rows"}`` file that its ``--merge`` puts into the one table (groups "10^9" and
"exact 10^7" replace those of an earlier merge).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from limits_rows import row

#: The 10-NN speed-ups over the flat scan before issue 25 (bench/results/billion.md, at 10^9).
SPEEDUP_BEFORE = {"c100000-p0.10": 1109.0, "c1000-p0.15": 425.0}


def billion_rows(payload: Dict[str, Any]) -> List[Dict]:
    out = []
    for r in payload["records"]:
        what = f"{r['n']:.0e} {r['dist']} {r['nbits']}-bit codes"
        tail, k10 = r.get("tail"), r["k10"]
        if tail:
            out.append(row("10^9", f"MIH 10-NN p99, {what}, {tail['queries']:,} fresh single queries", "ms",
                           tail["p99_ms"], None, None, None, None, "p99 <= 3 ms", tail["p99_ms"] <= 3.0,
                           p50_ms=tail["p50_ms"], p99_ms=tail["p99_ms"]))
        out.append(row("10^9", f"MIH build from disk, {what}", "s", r["build_s"], None, None, None, None,
                       "<= 300 s", r["build_s"] <= 300.0))
        tables = r["memory_ratio"] - 1.0
        out.append(row("10^9", f"MIH tables / code bytes, {what} (codes + tables {r['memory_ratio']:.2f}x)", "x",
                       tables, None, None, None, None, "tables <= 1.6x the code bytes", tables <= 1.6))
        before: Optional[float] = SPEEDUP_BEFORE.get(r["dist"])
        goal = f">= {before:.0f}x (before)" if before else ">= the speed-up before"
        out.append(row("10^9", f"MIH 10-NN p50 speed-up over the flat scan, {what} "
                       f"({k10['mih_p50_ms']:.2f} vs {k10['flat_p50_ms']:.0f} ms)", "x flat",
                       k10["speedup_p50"], None, None, None, None, goal,
                       before is not None and k10["speedup_p50"] >= before))
    return out


def exact_rows(payload: Dict[str, Any]) -> List[Dict]:
    """bench_exact_vs_approx's rows (ours vs faiss at the target recall, q/s)."""
    return [row("exact 10^7", r["shape"], r["unit"], r["ours"], r["reference"], None, None, r["ratio"],
                r["target"], r["met"]) for r in payload["rows"]]


def rows_of(path: Path) -> List[Dict]:
    payload = json.loads(path.read_text())
    if "records" in payload and payload["records"] and "k10" in payload["records"][0]:
        return billion_rows(payload)
    if "rows" in payload and "args" in payload:
        return exact_rows(payload)
    raise SystemExit(f"{path}: neither a bench_billion nor a bench_exact_vs_approx result")


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, nargs="+", help="bench_billion / bench_exact_vs_approx JSON files")
    p.add_argument("--out", type=Path, required=True, help="the rows' JSON, for bench_limits.py --merge")
    a = p.parse_args(argv)
    rows = [r for path in a.results for r in rows_of(path)]
    meta = {"argv": [str(path) for path in a.results], "load_before": "as in each file"}
    a.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"# wrote {len(rows)} rows to {a.out}")


if __name__ == "__main__":
    main()
