"""Does ClusterScanIndex's automatic cluster count pick the faster of its two choices? (issue #25)

``clusters=None`` reads a sample of the codes (``_core.cluster_auto_choice``): twice the groups its
leaders form at radius nbits / 4, where those groups are tight (at least 3 in 10 of the sampled
codes that join one lie within nbits / 4 - 0.4 sqrt(nbits) of its leader), else sqrt(n); where the
groups ask for more clusters than sqrt(n), it builds them and probes them with 32 walks of stored
codes; where those visit over 1/16 of the clusters, sqrt(n)'s clusters are probed too and the
cheaper walks win (fell back: sqrt(n) was). For each code set
(clustered around C centres, every bit flipped with probability p; uniform; ``nash-reuters``:
NASH-DN's codes of the Reuters train split, replicated with 2% of bits flipped, test codes as
queries, as in bench_mih.py) this builds the index
with both counts over the same codes and times exact 10-NN on fresh queries of the same
distribution: single queries (one per call) and one batch of every query, all threads, the best of
--repeats passes. The report gives the tight share, the pick, both speeds, and whether the pick was
the faster (within 10%), and the probe walks' visited share. ``--grid 2,4,8`` also times those
multiples of sqrt(n) on the same codes and reports the fastest count of them all (single queries)
against the pick: how far the automatic count is from the best one measured. Writes
``<out>/<name>.{json,md}``.

    python bench/bench_cluster_count.py                                   # 12 shapes at 10^7 (~20 min, 2 cores)
    python bench/bench_cluster_count.py --n 1M --nbits 128 --shapes 1000:0.1,10000:0.2
    python bench/bench_cluster_count.py --n 2M --nbits 64,128,256 --shapes 2000:0.17,uniform --grid 2,4,8
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from nash_index.index import ClusterScanIndex, _core, synthetic  # noqa: E402

K = 10
SLACK = 1.10  # a pick within 10% of the faster choice counts as right
CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "nash_cluster_count"  # the trained codes, kept
# Tuned on the first eleven (bench/results/cluster_count.md); check others with --shapes.
SHAPES = ("1000:0.1,10000:0.1,20000:0.1,10000:0.125,30000:0.05,100000:0.1,3000:0.15,10000:0.15,"
          "5000:0.175,1000:0.2,10000:0.2,uniform")


def code_set(shape: str, n: int, nq: int, nbits: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    if shape == "nash-reuters":  # learned codes: NASH-DN's Reuters train codes replicated, test codes as queries
        import mih_tools

        db, queries = mih_tools.learned_codes(nbits, epochs=5, data_dir=harness.default_data_dir(), cache_dir=CACHE)
        return mih_tools.replicate(db, n, nbits, seed), np.ascontiguousarray(queries[:nq])
    if shape == "uniform":
        return synthetic.uniform_codes(n, nbits, seed), synthetic.uniform_codes(nq, nbits, seed + 1)
    centres, flip = shape.split(":")
    middle = synthetic.random_centres(int(centres), nbits, seed=seed)
    return (synthetic.clustered_codes(n, nbits, middle, float(flip), seed=seed + 1),
            synthetic.clustered_codes(nq, nbits, middle, float(flip), seed=seed + 2))


def speeds(db: np.ndarray, queries: np.ndarray, clusters: int, repeats: int) -> Dict[str, float]:
    """Build seconds, single and batch q/s (best of `repeats` passes) of one cluster count."""
    t0 = time.perf_counter()
    index = ClusterScanIndex(db.shape[1] * 8, clusters=clusters)
    index.add(db)
    build = time.perf_counter() - t0
    single, batch = [], []
    for _ in range(repeats):
        t = harness.time_each(lambda i: index.search(queries[i:i + 1], K), count=len(queries), warmup=1)
        single.append(len(t.times) / sum(t.times))
        batch.append(harness.qps(harness.time_calls(lambda: index.search(queries, K), repeats=1, warmup=0),
                                 per_call=len(queries)))
    return {"clusters": clusters, "build_s": build, "single_qps": max(single), "batch_qps": max(batch)}


def cell(shape: str, n: int, nbits: int, args: Any) -> Dict[str, Any]:
    db, queries = code_set(shape, n, args.queries, nbits, args.seed)
    choice = dict(_core.cluster_auto_choice(db, db.shape[1]))
    groups = speeds(db, queries, int(choice["from_groups"]), args.repeats)
    size = speeds(db, queries, int(choice["from_size"]), args.repeats)
    pick = "groups" if choice["count"] == choice["from_groups"] else "size"
    picked, other = (groups, size) if pick == "groups" else (size, groups)
    right = all(picked[key] * SLACK >= other[key] for key in ("single_qps", "batch_qps"))
    row = {"shape": shape, "n": n, "nbits": nbits, "choice": choice, "pick": pick, "groups": groups, "size": size,
           "ok": right}
    if args.grid:
        counts = sorted({max(1, min(n, round(f * choice["from_size"]))) for f in args.grid} - {groups["clusters"],
                                                                                                size["clusters"]})
        row["grid"] = [speeds(db, queries, c, args.repeats) for c in counts]
    return row


def best_of_grid(row: Dict[str, Any]) -> Dict[str, float]:
    """The fastest count timed for this row (single queries): groups, size or a --grid count."""
    return max([row["groups"], row["size"], *row.get("grid", [])], key=lambda x: x["single_qps"])


def markdown(rows: List[Dict[str, Any]], args: Any, machine: Dict[str, Any]) -> str:
    lines = [f"# ClusterScanIndex's automatic cluster count: its pick against the other choice ({K}-NN)", "",
             f"`python bench/bench_cluster_count.py {' '.join(args.argv)}`".replace(" `", "`"), "",
             f"{machine.get('cpu', '')}; {args.queries} fresh queries of each shape; single: one query per call, "
             f"batch: all of them in one call, the best of {args.repeats} passes (all threads). Groups: twice the "
             "leaders of a sample at radius nbits / 4; size: sqrt(n). The pick is the groups' count where the "
             "tight share (sampled codes that joined a group within nbits / 4 - 0.4 sqrt(nbits) of its leader) is at "
             "least 0.3, unless the groups ask for more clusters than sqrt(n), 32 walks of stored codes visit over 1/16 "
             "of them (visited; - where not built) and the same walks cost less on sqrt(n)'s clusters (walk cost, "
             "in 64-bit codes read: groups / size; - where not probed). "
             f"ok: the pick is within {SLACK - 1:.0%} of the other choice, single and batch.", ""]
    grid = any("grid" in r for r in rows)
    if grid:
        lines[-1:-1] = [f"Best count: the fastest single queries of groups, size and the counts of --grid "
                        f"({', '.join(f'{f:g}' for f in args.grid)} x sqrt(n)); pick / best: the pick's single q/s over "
                        "that count's."]
    lines += harness.md_table_head("shape", ["N", "nbits", "tight share", "visited", "walk cost", "pick", "groups: clusters / build s / "
                                             "single / batch q/s", "size: clusters / build s / single / batch q/s",
                                             "pick / other, single", "pick / other, batch", "ok"]
                                   + (["best count: clusters / single q/s", "pick / best, single"] if grid else []))
    for r in rows:
        g, s, choice = r["groups"], r["size"], r["choice"]
        picked, other = (g, s) if r["pick"] == "groups" else (s, g)
        visited = f"{choice['visited_share']:.3f}" if choice["visited_share"] else "-"  # a probe visits >= 1 cluster
        cost = f"{choice['groups_cost']:,.0f} / {choice['size_cost']:,.0f}" if choice["size_cost"] else "-"

        def cells(x: Dict[str, float]) -> str:
            return f"{x['clusters']:,} / {x['build_s']:.0f} / {x['single_qps']:,.0f} / {x['batch_qps']:,.0f}"
        lines.append(f"| {r['shape']} | {r['n']:.0e} | {r['nbits']} | {choice['tight_share']:.2f} | {visited} | {cost} | "
                     f"{r['pick']} | {cells(g)} | {cells(s)} | "
                     f"{picked['single_qps'] / other['single_qps']:.2f} | {picked['batch_qps'] / other['batch_qps']:.2f} | "
                     f"{'yes' if r['ok'] else '**no**'} |" + (best_cells(r, picked) if grid else ""))
    return "\n".join(lines)


def best_cells(row: Dict[str, Any], picked: Dict[str, float]) -> str:
    best = best_of_grid(row)
    return f" {best['clusters']:,} / {best['single_qps']:,.0f} | {picked['single_qps'] / best['single_qps']:.2f} |"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_grid_args(p, sizes=[10**7], widths=[64])
    p.add_argument("--shapes", type=lambda s: s.split(","), default=SHAPES.split(","))
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--grid", type=lambda s: [float(x) for x in s.split(",")], default=[],
                   help="also time these multiples of sqrt(n) clusters (e.g. 2,4,8) and report the best count")
    p.add_argument("--name", default="cluster_count")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    machine = harness.machine_info()

    def write(rows: List[Dict[str, Any]]) -> None:
        harness.write_report({"k": K, "machine": machine, "argv": args.argv, "rows": rows}, args.out, args.name,
                             markdown(rows, args, machine))
    rows = harness.run_grid(args.n, args.nbits, args.shapes, lambda shape, n, nbits: cell(shape, n, nbits, args), write)
    print(markdown(rows, args, machine))
    return 0 if all(r["ok"] for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
