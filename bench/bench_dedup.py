"""What storing identical codes once costs and gains by duplicate share: the rule of make_index("auto").

    python bench/bench_dedup.py                  # 10^6 64-bit codes; shares 0 (uniform), 0.5, 0.8, 0.95, 0.99
    python bench/bench_dedup.py --n 2e5 --quick  # a smoke run

For each share s, n codes are drawn (with replacement) from n * (1 - s) distinct uniform codes (the
share measured by ``duplicate_share`` is reported); queries are half fresh uniform codes, half
database codes. For flat vs flat_dedup and mih vs mih_dedup, alternated in one process: the bulk
``add`` time, the bytes of the saved index (what a loaded index holds), single-query p50 at k = 10
and a 100-query batch, medians of --repeats rounds; every answer of a dedup kind is compared with
its plain kind's (distances and ids). Results: --out/<name>.json and .md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

import harness
import nash_index as ni

PAIRS = (("flat", "flat_dedup"), ("mih", "mih_dedup"))


def codes_with_share(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    distinct = max(1, int(round(n * (1 - share))))
    base = rng.integers(0, 256, (distinct, 8), dtype=np.uint8)
    return base if distinct == n else base[rng.integers(0, distinct, n)]


def measure_kind(kind: str, db: np.ndarray, queries: np.ndarray, args: Any) -> Dict[str, Any]:
    index = ni.make_index(64, kind=kind)
    t0 = time.perf_counter()
    index.add(db)
    if kind.startswith("mih"):
        index._impl.search(queries[:1], 1, 0)  # tables are built by add's upkeep; nothing pending
    add_s = time.perf_counter() - t0
    single = harness.time_each(lambda i: index.search(queries[i:i + 1], 10), count=len(queries), warmup=2,
                               budget=args.budget)
    batch = harness.time_calls(lambda: index.search(queries[:100], 10), repeats=3, warmup=1, budget=args.budget)
    return {"index": index, "add_s": add_s, "bytes": len(index._impl.serialize()), "p50_ms": single.p50 * 1e3,
            "mean_ms": float(np.mean(single.times)) * 1e3, "batch_qps": 100 / batch.median}


def run_share(share: float, args: Any) -> Dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    db = codes_with_share(rng, args.n, share)
    queries = np.concatenate([rng.integers(0, 256, (args.queries // 2, 8), dtype=np.uint8),
                              db[rng.integers(0, len(db), args.queries - args.queries // 2)]])
    rec: Dict[str, Any] = {"share_asked": share, "duplicate_share": ni.duplicate_share(db), "n": args.n}
    rounds: Dict[str, List[Dict[str, Any]]] = {kind: [] for pair in PAIRS for kind in pair}
    for _ in range(args.repeats):
        for plain, dedup in PAIRS:
            for kind in (plain, dedup):
                rounds[kind].append(measure_kind(kind, db, queries, args))
            want = rounds[plain][-1]["index"].search(queries, 10)
            got = rounds[dedup][-1]["index"].search(queries, 10)
            if not (np.array_equal(want.distances, got.distances) and np.array_equal(want.ids, got.ids)):
                raise SystemExit(f"{dedup} differs from {plain} at share {share}")
            for kind in (plain, dedup):
                del rounds[kind][-1]["index"]
    for kind, runs in rounds.items():
        rec[kind] = {key: float(np.median([r[key] for r in runs])) for key in runs[0]}
    for plain, dedup in PAIRS:
        rec[f"{dedup}_over_{plain}"] = {"p50": rec[plain]["p50_ms"] / rec[dedup]["p50_ms"],
                                         "mean": rec[plain]["mean_ms"] / rec[dedup]["mean_ms"],
                                         "batch": rec[dedup]["batch_qps"] / rec[plain]["batch_qps"],
                                         "add": rec[dedup]["add_s"] / rec[plain]["add_s"],
                                         "bytes": rec[dedup]["bytes"] / rec[plain]["bytes"]}
    return rec


def markdown(records: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
    lines = [f"# Identical codes stored once: cost and gain by duplicate share ({meta.get('cpu', '')}, "
             f"{meta.get('cpus', '')} cores, shared machine)", "",
             f"`python bench/bench_dedup.py {' '.join(meta.get('argv', []))}`: 64-bit codes drawn from n(1 - s) distinct "
             "uniform codes; queries half fresh, half database codes; k = 10; medians of rounds alternated in one "
             "process; every dedup answer equal to its plain kind's. Speed-up = plain / dedup (above 1: dedup faster); "
             "bytes = saved index, dedup / plain (below 1: dedup smaller); add = dedup / plain time.", "",
             "| N | duplicate share | flat_dedup vs flat: p50 / mean / batch speed-up | add | bytes | "
             "mih_dedup vs mih: p50 / mean / batch speed-up | add | bytes |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        cells = []
        for plain, dedup in PAIRS:
            x = r[f"{dedup}_over_{plain}"]
            cells += [f"{x['p50']:.2f}x / {x['mean']:.2f}x / {x['batch']:.2f}x", f"{x['add']:.2f}x", f"{x['bytes']:.2f}x"]
        lines.append(f"| {r['n']:.0e} | {r['duplicate_share']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=lambda s: int(float(s)), default=10**6)
    p.add_argument("--shares", type=lambda s: [float(x) for x in s.split(",")], default=[0.0, 0.5, 0.8, 0.95, 0.99])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--name", default="dedup_overhead")
    p.add_argument("--out", type=Path, default=harness.OUT_DIR)
    args = p.parse_args(argv)
    if args.quick:
        args.queries, args.repeats, args.budget = 20, 1, 2.0
    records = []
    for share in args.shares:
        records.append(run_share(share, args))
        r = records[-1]
        print(f"share {r['duplicate_share']:.3f}: " + "; ".join(
            f"{d} vs {pl}: p50 {r[f'{d}_over_{pl}']['p50']:.2f}x, batch {r[f'{d}_over_{pl}']['batch']:.2f}x, "
            f"add {r[f'{d}_over_{pl}']['add']:.2f}x, bytes {r[f'{d}_over_{pl}']['bytes']:.2f}x" for pl, d in PAIRS),
            flush=True)
    meta = {**harness.machine_info(), "argv": sys.argv[1:] if argv is None else argv}
    args.out.mkdir(parents=True, exist_ok=True)
    harness.save_json(args.name, {"meta": meta, "records": records}, args.out)
    (args.out / f"{args.name}.md").write_text(markdown(records, meta), encoding="utf-8")
    print(f"# wrote {args.out / args.name}.json and .md")


if __name__ == "__main__":
    main()
