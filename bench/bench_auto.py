"""Is ``make_index``'s automatic choice ever more than 10% slower than the other index? (issue #15)

For each code length (64/128/256 bits), database size (1M/10M) and code set (uniform; clustered
around 1000 centres, every bit flipped with probability 0.10), both indexes are built over the same
codes and timed on fresh queries from the same distribution, k = 10, all threads:

* single: one query per call, p50 and mean latency over ``--single`` calls;
* batch: ``--batch`` queries per call, the median call of ``--repeats``.

``make_index(nbits, n_expected=N)`` picks one of them; the report gives, per workload, its time over
the other's (``auto / other``; > 1.10 is a violation of the rule's promise) and checks that both
return the same neighbours. Writes ``<out>/auto.{json,md}``.

    python bench/bench_auto.py                      # the full grid (about 20 minutes on 2 cores)
    python bench/bench_auto.py --n 1M --nbits 64    # one cell
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import nash_index as ni  # noqa: E402
from nash_index.index import synthetic  # noqa: E402
from nash_index.index.factory import auto_kind  # noqa: E402

K = 10
LIMIT = 1.10
DISTS = {"uniform": None, "c1000-p0.10": (1000, 0.10)}


def code_set(dist: str, n: int, nq: int, nbits: int, seed: int):
    if DISTS[dist] is None:
        return synthetic.uniform_codes(n, nbits, seed), synthetic.uniform_codes(nq, nbits, seed + 1)
    count, flip = DISTS[dist]
    centres = synthetic.random_centres(count, nbits, seed)
    return (synthetic.clustered_codes(n, nbits, centres, flip, seed + 1),
            synthetic.clustered_codes(nq, nbits, centres, flip, seed + 2))


def timings(index: Any, queries: np.ndarray, args: Any) -> Dict[str, float]:
    single = harness.time_each(lambda i: index.search(queries[i:i + 1], K), count=args.single)
    batch = harness.time_calls(lambda: index.search(queries[:args.batch], K), repeats=args.repeats)
    return {"single_p50_ms": single.p50 * 1e3, "single_mean_ms": float(np.mean(single.times)) * 1e3,
            "batch_ms_per_query": batch.median / args.batch * 1e3}


def cell(nbits: int, n: int, dist: str, args: Any) -> Dict[str, Any]:
    codes, queries = code_set(dist, n, max(args.single, args.batch), nbits, args.seed)
    built = {}
    for kind in ("flat", "mih"):
        start = time.perf_counter()
        index = ni.make_index(nbits, kind=kind)
        index.add(codes)
        built[kind] = (index, time.perf_counter() - start)
    flat, mih = built["flat"][0], built["mih"][0]
    a, b = flat.search(queries[:args.batch], K), mih.search(queries[:args.batch], K)
    if not (np.array_equal(a.ids, b.ids) and np.array_equal(a.distances, b.distances)):
        raise SystemExit(f"MIH differs from the flat scan at nbits={nbits} n={n} {dist}")
    times = {kind: timings(index, queries, args) for kind, (index, _) in built.items()}
    auto = auto_kind(nbits, n)
    other = "flat" if auto == "mih" else "mih"
    row = {"nbits": nbits, "n": n, "dist": dist, "auto": auto, "build_s": {k: v[1] for k, v in built.items()},
           "times": times}
    for metric in ("single_p50_ms", "single_mean_ms", "batch_ms_per_query"):
        row[f"ratio_{metric}"] = times[auto][metric] / times[other][metric]
    row["ok"] = all(row[f"ratio_{m}"] <= LIMIT for m in ("single_p50_ms", "batch_ms_per_query"))
    return row


def markdown(rows: List[Dict[str, Any]], args: Any) -> str:
    lines = [f"# make_index's automatic choice against the other index (k = {K}, all threads)", "",
             f"Single: p50 (mean) over {args.single} one-query calls; batch: {args.batch} queries per call, "
             f"median of {args.repeats}. `auto / other`: the chosen index's time over the other's (> "
             f"{LIMIT:.2f}: the rule is wrong there).", ""]
    lines += harness.md_table_head("nbits", ["N", "codes", "auto picks", "flat single p50 ms", "MIH single p50 ms",
                                             "auto / other, single p50 (mean)", "flat batch ms/q", "MIH batch ms/q",
                                             "auto / other, batch", "ok"])
    for r in rows:
        t = r["times"]
        lines.append(f"| {r['nbits']} | {r['n']:.0e} | {r['dist']} | {r['auto']} | {t['flat']['single_p50_ms']:.3f} | "
                     f"{t['mih']['single_p50_ms']:.3f} | {r['ratio_single_p50_ms']:.2f} "
                     f"({r['ratio_single_mean_ms']:.2f}) | {t['flat']['batch_ms_per_query']:.4f} | "
                     f"{t['mih']['batch_ms_per_query']:.4f} | {r['ratio_batch_ms_per_query']:.2f} | "
                     f"{'yes' if r['ok'] else '**no**'} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_grid_args(p, sizes=[10**6, 10**7], widths=[64, 128, 256])
    p.add_argument("--dists", type=lambda s: s.split(","), default=list(DISTS))
    p.add_argument("--single", type=int, default=200)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    def write(rows: List[Dict[str, Any]]) -> None:
        report = {"k": K, "limit": LIMIT, "machine": harness.machine_info(), "rows": rows}
        harness.write_report(report, args.out, "auto", markdown(rows, args))
    rows = harness.run_grid(args.n, args.nbits, args.dists, lambda dist, n, nbits: cell(nbits, n, dist, args), write)
    print(markdown(rows, args))
    return 0 if all(r["ok"] for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
