"""bench_billion.py --dedup: the index that stores identical codes once, timed beside the flat scan
and the MIH of the same run, its answers checked against theirs, its memory beside the MIH's."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

import harness
import nash_index as ni


def check_same(where: str, got, want) -> None:
    if not (np.array_equal(got.distances, want.distances) and np.array_equal(got.ids, want.ids)):
        raise SystemExit(f"the dedup index differs from the MIH (itself checked against the flat scan): {where}")


def measure_dedup(path: Path, mih: Any, queries: np.ndarray, rec: Dict[str, Any], args: Any) -> Dict[str, Any]:
    """Times the dedup index at `path` on `queries`; `mih` (loaded, fallback auto) gives the reference
    answers, `rec` the flat scan's timings of this run."""
    out: Dict[str, Any] = {"file_bytes": path.stat().st_size, "warm_s": harness.warm_file(path)}
    t0 = time.perf_counter()
    index = ni.load(path, mmap=True, verify=False, populate=True)
    out["load_s"] = time.perf_counter() - t0
    if index.kind != "mih_dedup" or index.ntotal != mih.ntotal:
        raise SystemExit(f"{path.name}: expected a mih_dedup index of {mih.ntotal} codes, got {index!r}")
    info = index.groups_info()
    out.update(distinct=info["distinct"], duplicate_share=1 - info["distinct"] / index.ntotal,
               list_bytes=info["list_bytes"], file_over_mih=out["file_bytes"] / rec["file_bytes"])
    for k in args.k:
        want = mih.search(queries, k)
        check_same(f"{path.name} k={k} batch", index.search(queries, k), want)
        for q in range(len(queries)):  # one call per query: the single-query path
            check_same(f"{path.name} k={k} query {q}", index.search(queries[q:q + 1], k),
                       ni.SearchResult(want.distances[q:q + 1], want.ids[q:q + 1]))
        timing = harness.time_each(lambda i: index.search(queries[i:i + 1], k), count=len(queries), warmup=2,
                                   budget=args.budget)
        flat_p50 = rec[f"k{k}"]["flat_p50_ms"]
        out[f"k{k}"] = {"p50_ms": timing.p50 * 1e3, "p99_ms": None if timing.p99 is None else timing.p99 * 1e3,
                        "mean_ms": float(np.mean(timing.times)) * 1e3, "calls": len(timing.times),
                        "speedup_p50": flat_p50 / (timing.p50 * 1e3),
                        "over_mih_p50": rec[f"k{k}"]["mih_p50_ms"] / (timing.p50 * 1e3), "checked_queries": len(queries)}
    batch = queries[:args.batch]
    timed = harness.time_calls(lambda: index.search(batch, 10), repeats=3, warmup=1, budget=args.budget)
    out["batch_qps"] = len(batch) / timed.median
    out["rss_after_queries"] = harness.rss_bytes()
    return out


def report_line(r: Dict[str, Any]) -> str:
    d, b = r["dedup"], r["dedup_build"]
    cells = [f"k={k}: {d[f'k{k}']['p50_ms']:.3f} ms = {d[f'k{k}']['speedup_p50']:.1f}x flat"
             for k in (1, 10, 100) if f"k{k}" in d]
    return (f"dedup: {d['distinct']:,} distinct ({d['duplicate_share']:.1%} duplicates), build {b['build_s']:.0f} s "
            f"peak RSS {b['build_peak_rss'] / 2**30:.2f} GiB, file {d['file_bytes'] / 2**30:.2f} GiB "
            f"({d['file_over_mih']:.2f}x the MIH's); " + ", ".join(cells) + f"; batch {d['batch_qps']:.0f} q/s")


def markdown(records: List[Dict[str, Any]], meta: Dict[str, Any]) -> List[str]:
    """Rows of the dedup table (records that carry a dedup measurement)."""
    load = meta.get("loadavg")
    lines = ["Identical codes stored once (`mih_dedup`, `build_mih_file(..., dedup=True)`): single-query p50 and "
             "speed-up over the flat scan of the same run; every answer equal to the MIH's (checked against the "
             "flat scan). Memory = file bytes (the index served by mmap), dedup / MIH; build peak RSS = the child's "
             "VmHWM. A query whose own code k or more documents share is answered from one hash lookup (most "
             "queries here); the others walk the distinct codes (the mean and p99 columns)."
             + (f" Load average at the end of the run: {load[0]:.1f} on {meta.get('cpus')} cores (the flat "
                "scan suffers most from a shared machine)." if load else ""),
             "", "| codes | N | distinct (duplicates) | build, peak RSS | file: dedup / MIH | k=1 dedup / flat | "
             "k=10 dedup / flat | k=100 dedup / flat | k=10 mean, p99: dedup vs flat mean | k=10 MIH / flat | "
             "batch k=10 (q/s): dedup, MIH, flat |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if "dedup" not in r:
            continue
        d, b = r["dedup"], r["dedup_build"]
        cells = []
        for k in (1, 10, 100):
            c = d.get(f"k{k}")
            cells.append("-" if not c else f"{c['p50_ms']:.3f} / {r[f'k{k}']['flat_p50_ms']:.1f} ms = "
                                           f"**{c['speedup_p50']:.0f}x**")
        c10, m10 = d.get("k10"), r.get("k10")
        cells.append("-" if not (c10 and m10) else f"{c10['mean_ms']:.3f}, {c10['p99_ms'] or float('nan'):.2f} vs "
                                                     f"{m10['flat_mean_ms']:.1f} ms = "
                                                     f"{m10['flat_mean_ms'] / c10['mean_ms']:.0f}x (mean)")
        mih = "-" if not m10 else f"{m10['mih_p50_ms']:.2f} / {m10['flat_p50_ms']:.1f} ms = {m10['speedup_p50']:.1f}x"
        lines.append(f"| {r['dist']}, {r['nbits']}-bit | {r['n']:.0e} | {d['distinct']:,} ({d['duplicate_share']:.1%}) | "
                     f"{b['build_s']:.0f} s, {b['build_peak_rss'] / 2**30:.2f} GiB | {d['file_bytes'] / 2**30:.2f} / "
                     f"{r['file_bytes'] / 2**30:.2f} GiB = {d['file_over_mih']:.2f}x | " + " | ".join(cells)
                     + f" | {mih} | {d['batch_qps']:.0f}, {r['batch']['mih_qps']:.0f}, {r['batch']['flat_qps']:.1f} |")
    return lines
