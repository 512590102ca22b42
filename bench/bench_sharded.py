"""The sharded index on Ray against one local index of the same codes (issue #14).

One machine: N codes (default 10^7 and 10^8, 64-bit, clustered ``c1000-p0.15``) in 1, 2 and 4
shards served by Ray actors, beside one in-process index (same kind, all cores). Reports, per
layout: single-query latency (k = 10; p50 / p99 over ``--queries`` calls), batch QPS (``--batch``
queries per call, median of ``--repeats`` calls), and the overhead of Ray per query: the p50 of a
search over empty shards, through the compiled graph (the default for small batches) and through
ordinary actor calls. Every sharded answer checked is compared with the local index's, exactly.

    python bench/bench_sharded.py                       # 10^7 and 10^8 (about 20 minutes, 2 cores)
    python bench/bench_sharded.py --n 1e6 --quick       # a smoke run

Targets: batch QPS with 2 actors on 2 cores >= 1.6x one actor with 1 thread; the empty fan-out
below 1 ms p50. Writes ``<out>/sharded.{json,md,png}`` (``--out``, default bench/out/).
Generated codes and shard directories go to ``--data`` ($TMPDIR/nash_sharded), removed unless
``--keep``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import nash_index as ni  # noqa: E402
from codes_on_disk import queries_of, write_codes  # noqa: E402
from nash_index.distributed import ShardedIndex, shard_of  # noqa: E402
from nash_index.distributed.layout import Manifest, write_manifest, write_shard  # noqa: E402

K = 10


def build_shards(codes: np.ndarray, root: Path, num_shards: int, kind: str) -> float:
    """Shard directory of ``codes`` (ids = positions, routed as ShardedIndex.add routes them); seconds."""
    if (root / "manifest.json").exists():
        return 0.0
    start = time.perf_counter()
    owner = shard_of(np.arange(codes.shape[0], dtype=np.int64), num_shards)
    for shard in range(num_shards):
        ids = np.flatnonzero(owner == shard).astype(np.int64)
        index = ni.make_index(codes.shape[1] * 8, n_expected=ids.size, kind=kind)
        index.add(np.ascontiguousarray(codes[ids]), ids)
        write_shard(root, shard, index)
        del index
    write_manifest(root, Manifest(codes.shape[1] * 8, num_shards))
    return time.perf_counter() - start


def measure(search, queries: np.ndarray, batch: int, repeats: int, budget: float) -> Dict[str, Any]:
    single = harness.time_each(lambda i: search(queries[i:i + 1]), count=queries.shape[0], budget=budget)
    batched = harness.time_calls(lambda: search(queries[:batch]), repeats=repeats, budget=budget)
    return {"p50_ms": single.p50 * 1e3, "p99_ms": None if single.p99 is None else single.p99 * 1e3,
            "batch_qps": batch / batched.median, "batch_calls": len(batched.times)}


def local_rows(codes: np.ndarray, queries: np.ndarray, kind: str, thread_counts: List[int], args: Any):
    """One in-process index of the same codes, timed with each thread count; (rows, its answers)."""
    index = ni.make_index(codes.shape[1] * 8, n_expected=codes.shape[0], kind=kind)
    index.add(codes)
    rows = []
    for threads in thread_counts:
        ni.set_num_threads(threads)
        rows.append({"layout": f"local, {threads} thread{'s' * (threads > 1)}", "shards": 0, "threads": threads,
                     "kind": type(index).__name__,
                     **measure(lambda q: index.search(q, K), queries, args.batch, args.repeats, args.budget)})
    return rows, index.search(queries, K)


def sharded_row(root: Path, queries: np.ndarray, reference: Any, num_shards: int, cpus: float,
                args: Any) -> Dict[str, Any]:
    with ShardedIndex.open(root, cpus_per_shard=cpus, populate=True) as index:
        got = index.search(queries, K)
        if not (np.array_equal(got.ids, reference.ids) and np.array_equal(got.distances, reference.distances)):
            raise SystemExit(f"sharded answers differ from the local index ({num_shards} shards)")
        threads = index.info()[0]["num_threads"]
        label = f"{num_shards} shard{'s' * (num_shards > 1)} x {threads} thread{'s' * (threads > 1)}"
        row = {"layout": label, "shards": num_shards, "threads": threads, "cpus_per_shard": cpus,
               "kind": index.info()[0]["kind"],
               **measure(lambda q: index.search(q, K), queries, args.batch, args.repeats, args.budget)}
    with ShardedIndex.open(root, cpus_per_shard=cpus, fast_search=True) as index:  # single queries, compiled
        t = harness.time_each(lambda i: index.search(queries[i:i + 1], K), count=queries.shape[0], budget=args.budget)
        row["p50_ms_compiled"] = t.p50 * 1e3
    return row


def fanout_overhead(data: Path, shard_counts: List[int], count: int) -> List[Dict[str, Any]]:
    """p50 of a one-query search over empty shards: Ray's cost per query, compiled and ordinary."""
    rows = []
    query = np.zeros((1, 8), dtype=np.uint8)
    for num_shards in shard_counts:
        root = data / f"empty-{num_shards}"
        shutil.rmtree(root, ignore_errors=True)
        ShardedIndex.create(root, 64, num_shards, kind="flat").close()
        for fast in (True, False):
            with ShardedIndex.open(root, fast_search=fast) as index:
                t = harness.time_each(lambda i: index.search(query, K), count=count)
            rows.append({"shards": num_shards, "path": "compiled graph" if fast else "actor calls",
                         "p50_ms": t.p50 * 1e3, "p99_ms": None if t.p99 is None else t.p99 * 1e3})
        shutil.rmtree(root, ignore_errors=True)
    return rows


def run_n(n: int, codes_file: Path, args: Any, cpus: int) -> List[Dict[str, Any]]:
    codes = np.load(codes_file, mmap_mode="r")[:n]
    codes = np.ascontiguousarray(codes)
    queries = queries_of(args.dist, args.queries, 64, args.seed)
    rows, reference = local_rows(codes, queries, args.kind, sorted({1, cpus}), args)
    for row in rows:
        print(harness.dumps_strict({"n": n, **row}, indent=None), flush=True)
    for num_shards in args.shards:
        root = args.data / f"{args.dist}-{n}-{args.kind}-s{num_shards}"
        build_s = build_shards(codes, root, num_shards, args.kind)
        configs = [cpus / num_shards] + ([1.0] if num_shards == 1 and cpus > 1 else [])
        for shard_cpus in configs:
            row = sharded_row(root, queries, reference, num_shards, shard_cpus, args)
            row["build_s"] = build_s
            rows.append(row)
            print(harness.dumps_strict({"n": n, **row}, indent=None), flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for row in rows:
        row["n"] = n
    return rows


def markdown(report: Dict[str, Any]) -> str:
    lines = [f"# Sharded index on Ray vs one local index ({report['dist']}, {report.get('kind', 'auto')} "
             f"indexes, 64-bit, k = {K})", "",
             f"Machine: {report['machine'].get('cpus')} CPUs. Single queries: p50 / p99 over "
             f"{report['queries']} calls. Batch: {report['batch']} queries per call, median of the calls.", ""]
    lines += harness.md_table_head("N", ["layout", "kind", "p50 ms", "p99 ms", "p50 ms, compiled graph", "batch QPS",
                                         "QPS / 1 actor 1 thread"])
    for row in report["rows"]:
        base = report["one_actor_one_thread_qps"].get(str(row["n"]))
        ratio = f"{row['batch_qps'] / base:.2f}x" if base else "-"
        lines.append(f"| {row['n']:.0e} | {row['layout']} | {row['kind']} | {row['p50_ms']:.3f} | "
                     f"{harness.cell(row, 'p99_ms', '%.3f')} | {harness.cell(row, 'p50_ms_compiled', '%.3f')} | "
                     f"{row['batch_qps']:.0f} | {ratio} |")
    lines += ["", "Ray's overhead per query (one query over empty shards):", ""]
    lines += harness.md_table_head("shards", ["path", "p50 ms", "p99 ms"])
    for row in report["fanout"]:
        lines.append(f"| {row['shards']} | {row['path']} | {row['p50_ms']:.3f} | {harness.cell(row, 'p99_ms', '%.3f')} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=lambda s: harness.parse_list(s, lambda x: int(float(x))), default=[10**7, 10**8])
    p.add_argument("--shards", type=harness.parse_list, default=[1, 2, 4])
    p.add_argument("--dist", default="c1000-p0.15")
    p.add_argument("--kind", default="auto", choices=["auto", "flat", "mih"])
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--batch", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "nash_sharded")
    p.add_argument("--keep", action="store_true", help="keep generated codes and shard directories")
    p.add_argument("--quick", action="store_true", help="fewer queries and calls (a smoke run)")
    p.add_argument("--out", type=Path, default=harness.OUT_DIR)
    p.add_argument("--name", default="sharded", help="output file stem")
    args = p.parse_args(argv)
    if args.quick:
        args.queries, args.batch, args.repeats, args.budget = 50, 50, 2, 10.0
    import ray

    cpus = len(os.sched_getaffinity(0))
    if not ray.is_initialized():  # (a test may have started one already)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    cpus = int(ray.cluster_resources().get("CPU", cpus))
    args.data.mkdir(parents=True, exist_ok=True)
    codes_file = write_codes(args.data / f"{args.dist}-{max(args.n)}.npy", max(args.n), 64, args.dist, args.seed)
    report: Dict[str, Any] = {"dist": args.dist, "kind": args.kind, "k": K, "queries": args.queries, "batch": args.batch,
                              "machine": harness.machine_info(), "rows": []}
    for n in args.n:
        report["rows"] += run_n(n, codes_file, args, cpus)
    report["fanout"] = fanout_overhead(args.data, args.shards, 50 if args.quick else 500)
    report["one_actor_one_thread_qps"] = {str(r["n"]): r["batch_qps"] for r in report["rows"]
                                          if r["shards"] == 1 and r["threads"] == 1}
    if not args.keep:
        codes_file.unlink()
    harness.write_report(report, args.out, args.name, markdown(report))
    plot(report, args.out, args.name)
    print(markdown(report))


def plot(report: Dict[str, Any], out: Path, name: str) -> Optional[Path]:
    """Two panels, one bar group per N: batch QPS relative to one actor with one thread, and
    single-query p50 latency (with the empty fan-out, Ray's own share, as a dashed line)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = sorted({r["n"] for r in report["rows"]})
    layouts = list(dict.fromkeys(r["layout"] for r in report["rows"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 2.2 + 0.3 * len(layouts) * len(sizes)))
    height = 0.8 / len(layouts)
    for ax, key, label in ((axes[0], "speedup", "batch QPS / one actor with one thread (higher is better)"),
                           (axes[1], "p50_ms", "single-query p50 latency, ms (lower is better)")):
        for i, layout in enumerate(layouts):
            values = []
            for n in sizes:
                row = next((r for r in report["rows"] if r["n"] == n and r["layout"] == layout), None)
                base = report["one_actor_one_thread_qps"].get(str(n))
                if row is None:
                    values.append(np.nan)
                elif key == "speedup":
                    values.append(row["batch_qps"] / base if base else np.nan)
                else:
                    values.append(row[key])
            ax.barh(np.arange(len(sizes)) + i * height, values, height, label=layout)
        ax.set_yticks(np.arange(len(sizes)) + height * (len(layouts) - 1) / 2)
        ax.set_yticklabels([f"N = {n:.0e}".replace("e+0", "e") for n in sizes])
        ax.invert_yaxis()
        ax.set_xlabel(label, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].axvline(1.6, color="grey", linestyle=":", linewidth=1)
    bottom = len(sizes) - 0.25  # inside the axes, under the last group (the y axis is inverted)
    axes[0].text(1.6, bottom, " target 1.6x (2 actors)", fontsize=7, color="grey")
    for row in report["fanout"]:
        if row["path"] == "actor calls" and row["shards"] == 1:
            axes[1].axvline(row["p50_ms"], color="grey", linestyle="--", linewidth=1)
            axes[1].text(row["p50_ms"], bottom, " Ray alone, 1 empty shard", fontsize=7, color="grey")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.suptitle(f"Ray shards vs one local index: {report['dist']}, 64-bit, k = {K}, "
                 f"{report.get('kind', 'auto')} shards, {report['machine'].get('cpus')} CPUs", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
