"""Exact 10-NN against faiss's approximate binary indexes at recall 0.95, same run (issue #25).

    python bench/bench_exact_vs_approx.py --quick                    # 200k codes, 2 shapes (~2 min)
    python bench/bench_exact_vs_approx.py --out bench/results        # 1M codes, 5 shapes (the tracked figures)
    python bench/bench_exact_vs_approx.py --n 10M --centres 10000 --flips 0.1 --no-hnsw --rounds 3

Data: clustered 64-bit codes (``synthetic.clustered_codes``: random centres, every bit flipped
with probability ``flip``); queries are new codes drawn around the same centres. Per shape it
measures, in one process and alternating nothing but the index: our exact indexes (``cluster``,
the cluster-pruned scan, and ``mih``), checked equal to FlatIndex; faiss ``IndexBinaryIVF``
(nlist = 4 sqrt(n), nprobe doubled, then bisected, to the smallest that reaches the target
recall) and ``IndexBinaryHNSW`` (M = 32, efSearch likewise). Recall is tie-aware recall@k
(``mih_tools.recall_at_k``). Every index is timed at 1 and 2 threads and reported at its best:
single queries (one call per query; q/s = 1 / median latency) and one batch of all queries.
With ``--rounds R`` every index is built once and timed R times in turn; the figures are the
medians over the rounds.

:func:`rows` returns the comparison rows (keys ``shape, ours, reference, bound, ratio, unit,
target, met``) for ``bench/bench_limits.py``.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

import nash_index as ni
from harness import OUT_DIR, import_faiss, machine_info, time_each, write_report
from mih_tools import check_equal, recall_at_k
from nash_index.index import synthetic
from nash_index.index.base import new_index

NBITS = 64
THREADS = (1, 2)


def parse_count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=parse_count, default=1_000_000)
    p.add_argument("--centres", type=lambda s: [int(x) for x in s.split(",")], default=None,
                   help="centre counts (default 1000,10000,100000 at flip 0.1, and 10000 at 0.05 / 0.2)")
    p.add_argument("--flips", type=lambda s: [float(x) for x in s.split(",")], default=None)
    p.add_argument("--nq", type=int, default=300)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--no-hnsw", action="store_true", help="skip HNSW (its build takes minutes at 10^6)")
    p.add_argument("--hnsw-all", action="store_true", help="HNSW on every shape (default: the first one only)")
    p.add_argument("--quick", action="store_true", help="200k codes, two shapes")
    p.add_argument("--budget", type=float, default=8.0, help="seconds per single-query timing before stopping")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=1,
                   help="time every index this many times in turn (medians reported; builds once)")
    p.add_argument("--clusters", type=int, default=None,
                   help="cluster count of the cluster index (default: automatic, ClusterScanIndex.auto_clusters)")
    p.add_argument("--omp-active", action="store_true", help="keep OpenMP's active wait policy for faiss")
    p.add_argument("--name", default="exact_vs_approx")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 200_000)
        args.nq = min(args.nq, 200)
    return args


def shapes(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """(centres, flip) pairs: the given grid, else the default set (fewer with --quick)."""
    if args.centres or args.flips:
        return [dict(centres=c, flip=f) for c in (args.centres or [10_000]) for f in (args.flips or [0.1])]
    grid = [(10_000, 0.1), (1_000, 0.1), (100_000, 0.1), (10_000, 0.05), (10_000, 0.2)]
    if args.quick:
        grid = [(1_000, 0.1), (10_000, 0.2)]
    return [dict(centres=c, flip=f) for c, f in grid]


def make_data(n: int, nq: int, centres: int, flip: float, seed: int):
    middle = synthetic.random_centres(centres, NBITS, seed=seed)
    db = synthetic.clustered_codes(n, NBITS, middle, flip, seed=seed + 1)
    queries = synthetic.clustered_codes(nq, NBITS, middle, flip, seed=seed + 2)
    return db, queries


def best_timing(search, queries: np.ndarray, set_threads, budget: float) -> Dict[str, Any]:
    """Single-query and batch q/s at the better of THREADS (each measured, the best kept)."""
    out: Dict[str, Any] = {}
    for t in THREADS:
        set_threads(t)
        single = time_each(lambda i: search(queries[i:i + 1]), count=len(queries), budget=budget)
        search(queries)
        batch_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            search(queries)
            batch_times.append(time.perf_counter() - t0)
        single_qps = 1.0 / float(np.median(single.times))
        batch_qps = len(queries) / float(np.median(batch_times))
        if single_qps > out.get("single_qps", 0):
            out.update(single_qps=single_qps, single_threads=t, p50_us=float(np.median(single.times)) * 1e6,
                       p99_us=float(np.percentile(single.times, 99)) * 1e6)
        if batch_qps > out.get("batch_qps", 0):
            out.update(batch_qps=batch_qps, batch_threads=t)
    return out


def tune(index, param: str, values: List[int], queries, k, exact_d, target) -> Dict[str, Any]:
    """Smallest value of `param` (doubling, then bisecting) whose tie-aware recall reaches `target`."""
    def recall(v: int) -> float:
        setattr(index, param, v)
        d, i = index.search(queries, k)
        return recall_at_k(d, i, exact_d, NBITS)

    lo, hi = None, None
    for v in values:
        if recall(v) >= target:
            hi = v
            break
        lo = v
    if hi is None:
        setattr(index, param, values[-1])
        return {param: values[-1], "recall": recall(values[-1]), "reached": False}
    lo = lo or 0
    while hi - lo > max(1, hi // 16):
        mid = (lo + hi) // 2
        if recall(mid) >= target:
            hi = mid
        else:
            lo = mid
    return {param: hi, "recall": recall(hi), "reached": True}


def build_ours(kind: str, db, queries, k, ref, **options):
    """Our exact index, checked equal to the flat scan: (its facts, search(q), set_threads(t))."""
    t0 = time.perf_counter()
    index = new_index(kind, NBITS, **options)
    index.add(db)
    build = time.perf_counter() - t0
    got = index.search(queries, k)
    check_equal(kind, ref, got.distances, got.ids)
    threads = {"t": 1}
    return (dict(build_s=build, recall=1.0), lambda q: index.search(q, k, num_threads=threads["t"]),
            lambda t: threads.__setitem__("t", t))


def build_ivf(faiss, db, queries, k, exact_d, args):
    n = len(db)
    nlist = int(4 * math.sqrt(n))
    t0 = time.perf_counter()
    index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(NBITS), NBITS, nlist)
    index.train(db[np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)])
    index.add(db)
    build = time.perf_counter() - t0
    nprobes = [1 << i for i in range(int(math.log2(nlist)) + 1)]
    tuned = tune(index, "nprobe", nprobes, queries, k, exact_d, args.target_recall)
    return dict(build_s=build, nlist=nlist, **tuned), lambda q: index.search(q, k), faiss.omp_set_num_threads


def build_hnsw(faiss, db, queries, k, exact_d, args):
    t0 = time.perf_counter()
    index = faiss.IndexBinaryHNSW(NBITS, args.hnsw_m)
    index.add(db)
    build = time.perf_counter() - t0
    tuned = tune(_Tunable(index, index.hnsw, "efSearch"), "efSearch", [16 << i for i in range(9)], queries, k,
                 exact_d, args.target_recall)
    return dict(build_s=build, M=args.hnsw_m, **tuned), lambda q: index.search(q, k), faiss.omp_set_num_threads


def median_timing(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The median of each timing over the rounds (threads: those of the round with the median q/s)."""
    out: Dict[str, Any] = {key: float(np.median([r[key] for r in rounds]))
                           for key in ("single_qps", "batch_qps", "p50_us", "p99_us")}
    for mode in ("single", "batch"):
        by_qps = sorted(rounds, key=lambda r: r[f"{mode}_qps"])
        out[f"{mode}_threads"] = by_qps[len(by_qps) // 2][f"{mode}_threads"]
    return out


class _Tunable:
    """Sets `param` on `target` and searches with `searcher` (HNSW: the graph holds efSearch)."""

    def __init__(self, searcher, target, param: str) -> None:
        object.__setattr__(self, "_s", (searcher, target, param))

    def __setattr__(self, name: str, value: int) -> None:
        setattr(self._s[1], name, value)

    def search(self, q, k):
        return self._s[0].search(q, k)


def run_shape(faiss, args, centres: int, flip: float, with_hnsw: bool) -> Dict[str, Any]:
    """Every index built once, then timed in turn, round after round (the machine's drift then
    falls on all of them alike); each timing is the median over the rounds."""
    db, queries = make_data(args.n, args.nq, centres, flip, args.seed)
    flat = ni.FlatIndex(NBITS)
    flat.add(db)
    exact = flat.search(queries, args.k)
    ref = (exact.distances, exact.ids)
    rec: Dict[str, Any] = dict(n=args.n, centres=centres, flip=flip, k=args.k, nq=len(queries))
    rec["exact_d_mean"] = float(exact.distances[:, -1].mean())
    options = {} if args.clusters is None else {"clusters": args.clusters}
    built = {"cluster": build_ours("cluster", db, queries, args.k, ref, **options),
             "mih": build_ours("mih", db, queries, args.k, ref)}
    if faiss is not None:
        built["ivf"] = build_ivf(faiss, db, queries, args.k, exact.distances, args)
        if with_hnsw:
            built["hnsw"] = build_hnsw(faiss, db, queries, args.k, exact.distances, args)
    rounds: Dict[str, List[Dict[str, Any]]] = {name: [] for name in built}
    for _ in range(args.rounds):
        for name, (_, search, set_threads) in built.items():
            rounds[name].append(best_timing(search, queries, set_threads, args.budget))
    for name, (facts, _, _) in built.items():
        rec[name] = dict(facts, **median_timing(rounds[name]), rounds=rounds[name])
    rec["cluster"]["clusters"] = args.clusters
    return rec


def best_exact(r: Dict[str, Any], mode: str) -> tuple:
    """(q/s, kind) of the faster of our exact kinds for `mode` ("single" or "batch")."""
    return max((r[kind][f"{mode}_qps"], kind) for kind in ("cluster", "mih"))


def rows_of(records: List[Dict[str, Any]], target: float = 0.95) -> List[Dict[str, Any]]:
    """One row per (shape, reference, mode): our faster exact kind's q/s over faiss's at the target recall."""
    out = []
    for r in records:
        for ref in ("ivf", "hnsw"):
            if ref not in r:
                continue
            for mode in ("single", "batch"):
                ours, kind = best_exact(r, mode)
                theirs = r[ref][f"{mode}_qps"]
                shape = (f"exact 10-NN ({mode}, {kind}), {r['n']:,} clustered 64-bit codes, {r['centres']:,} centres, "
                         f"{r['flip']:.0%} flips; vs faiss {ref.upper()} at recall {target}")
                reached = r[ref].get("reached", False)
                out.append(dict(shape=shape, ours=ours, reference=theirs, bound=None, ratio=ours / theirs,
                                unit="q/s", target=">= 1x the reference", met=bool(ours >= theirs or not reached)))
    return out


def rows(args: Optional[argparse.Namespace] = None) -> List[Dict[str, Any]]:
    """Runs the benchmark (``args`` as parsed by :func:`parse_args`; default ``--quick``) and returns its rows."""
    args = args or parse_args(["--quick"])
    return rows_of(run(args)["records"], args.target_recall)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    faiss = import_faiss()
    records = []
    for i, s in enumerate(shapes(args)):
        with_hnsw = faiss is not None and not args.no_hnsw and (args.hnsw_all or i == 0)
        rec = run_shape(faiss, args, s["centres"], s["flip"], with_hnsw)
        records.append(rec)
        print(summary_line(rec), flush=True)
    return dict(machine=machine_info(), args={k: str(v) for k, v in vars(args).items()}, records=records)


def summary_line(r: Dict[str, Any]) -> str:
    parts = [f"n={r['n']:,} centres={r['centres']:,} flip={r['flip']}: kth d {r['exact_d_mean']:.1f}"]
    for name in ("cluster", "mih", "ivf", "hnsw"):
        if name in r:
            x = r[name]
            extra = f" {'nprobe' if name == 'ivf' else 'ef'}={x.get('nprobe', x.get('efSearch'))} " \
                    f"recall={x['recall']:.3f}" if name in ("ivf", "hnsw") else ""
            parts.append(f"{name}: single {x['single_qps']:,.0f} q/s (p50 {x['p50_us']:.0f}us) "
                         f"batch {x['batch_qps']:,.0f} q/s build {x['build_s']:.1f}s{extra}")
    return "\n  ".join(parts)


def cluster_note(report: Dict[str, Any]) -> str:
    clusters = report["records"][0]["cluster"].get("clusters") if report["records"] else None
    return "" if clusters is None else f", {int(clusters):,} clusters"


def markdown(report: Dict[str, Any], target: float) -> str:
    lines = ["# Exact 10-NN vs faiss approximate indexes at recall " + str(target), "",
             "`python bench/bench_exact_vs_approx.py " + report["args"].get("cmd", "") + "` "
             "(clustered 64-bit codes; q/s at each index's best of 1 / 2 threads, the median of "
             + report["args"].get("rounds", "1") + " round(s) timing every index in turn; ratio = ours / faiss, same run)", "",
             "| shape | cluster (exact" + cluster_note(report) + ") single / batch q/s | mih (exact) | faiss IVF (nprobe, recall) | "
             "faiss HNSW (ef, recall) | best exact / IVF, single / batch | best exact / HNSW |",
             "|---|---|---|---|---|---|---|"]
    for r in report["records"]:
        c, m = r["cluster"], r["mih"]
        cells = [f"{r['n']:,} codes, {r['centres']:,} centres, {r['flip']:.0%}",
                 f"{c['single_qps']:,.0f} / {c['batch_qps']:,.0f}", f"{m['single_qps']:,.0f} / {m['batch_qps']:,.0f}"]
        for ref, p in (("ivf", "nprobe"), ("hnsw", "efSearch")):
            x = r.get(ref)
            cells.append("-" if x is None else f"{x['single_qps']:,.0f} / {x['batch_qps']:,.0f} ({x[p]}, {x['recall']:.3f})")
        for ref in ("ivf", "hnsw"):
            x = r.get(ref)
            cells.append("-" if x is None else f"{best_exact(r, 'single')[0] / x['single_qps']:.2f}x / "
                                               f"{best_exact(r, 'batch')[0] / x['batch_qps']:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Builds (s): " + "; ".join(
        f"{r['centres']:,}/{r['flip']:.0%}: cluster {r['cluster']['build_s']:.1f}, mih {r['mih']['build_s']:.1f}"
        + (f", IVF {r['ivf']['build_s']:.1f}" if "ivf" in r else "")
        + (f", HNSW {r['hnsw']['build_s']:.1f}" if "hnsw" in r else "") for r in report["records"])]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    import sys
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    report = run(args)
    report["args"]["cmd"] = " ".join(argv)
    report["rows"] = rows_of(report["records"], args.target_recall)
    write_report(report, args.out, args.name, markdown(report, args.target_recall))
    print(f"wrote {args.out / args.name}.md / .json")


if __name__ == "__main__":
    main()
