"""The 10-NN latency tail of an MIH file at 10^8-10^9 codes, from many single queries (bench_billion.py).

A p99 from 1,000 queries rests on its 10 slowest: at 10^9 clustered codes the slowest ~1% are the
queries whose 10th neighbour is 10 or more bits away (each a walk of ~126k table lookups), and
whether a sample of 1,000 holds 6 or 20 of them moves its p99 between ~3 and ~8 ms. So the tail is
measured on --tail-queries fresh queries (10,000 by default), with the share of each k-th distance
and the p99 of each block of 1,000 (how far a p99 of 1,000 queries strays).

The file is loaded as --tail-load says: ``mmap`` (``mmap=True, populate=True``; the share of the
mapping in 2 MiB pages is read from /proc/self/smaps: it follows the page cache's folios, see
README "Memory-mapped files") or ``read`` (``mmap=False``: the file read into anonymous memory in
2 MiB pages).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

import codes_on_disk as cod
import nash_index as ni

K = 10


def tail_queries(dist: str, count: int, nbits: int, seed: int, base: Optional[np.ndarray],
                 qcodes: Optional[np.ndarray]) -> np.ndarray:
    """Fresh draws, apart from the main run's queries (learned codes: the test documents' codes)."""
    if qcodes is not None:
        return np.ascontiguousarray(qcodes[:count])
    return cod.draw(dist, count, nbits, [seed, 1 << 42], cod.centres_of(dist, nbits, seed, base))


def huge_share(path: Path) -> Optional[float]:
    """Share of this process's mappings of `path` in 2 MiB pages (None: no /proc, or not mapped)."""
    rss = pmd = 0
    inside = False
    try:
        with open("/proc/self/smaps", encoding="ascii", errors="replace") as smaps:
            for line in smaps:
                if "-" in line.split(" ", 1)[0]:
                    inside = line.rstrip().endswith(str(path))
                elif inside and line.startswith(("Rss:", "FilePmdMapped:")):
                    kb = int(line.split()[1])
                    rss, pmd = (rss + kb, pmd) if line.startswith("Rss:") else (rss, pmd + kb)
    except OSError:
        return None
    return pmd / rss if rss else None


def measure(path: Path, queries: np.ndarray, load: str = "mmap") -> Dict[str, Any]:
    """Single 10-NN queries: latency statistics, k-th distance shares, p99 per block of 1,000."""
    t0 = time.perf_counter()
    index = ni.load(path, mmap=load == "mmap", verify=False, populate=load == "mmap")
    out: Dict[str, Any] = {"load": load, "load_s": time.perf_counter() - t0, "queries": len(queries), "k": K,
                           "huge_page_share": huge_share(path) if load == "mmap" else None}
    index.search(queries[:3], K)
    times = np.empty(len(queries))
    kth = np.empty(len(queries), dtype=np.int64)
    for i in range(len(queries)):
        t0 = time.perf_counter()
        kth[i] = index.search(queries[i:i + 1], K).distances[0, -1]
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    out.update(p50_ms=float(np.median(ms)), p90_ms=float(np.percentile(ms, 90)), p99_ms=float(np.percentile(ms, 99)),
               p999_ms=float(np.percentile(ms, 99.9)), mean_ms=float(ms.mean()),
               p99_per_1000_ms=[float(np.percentile(ms[b * 1000:(b + 1) * 1000], 99)) for b in range(len(ms) // 1000)],
               kth_share={int(d): float(np.mean(kth == d)) for d in np.unique(kth)},
               median_ms_by_kth={int(d): float(np.median(ms[kth == d])) for d in np.unique(kth)})
    return out


def far_share(t: Dict[str, Any]) -> float:
    """Share of queries whose 10th neighbour is >= 10 bits away."""
    return sum(v for d, v in t["kth_share"].items() if int(d) >= 10)


def block_spread(t: Dict[str, Any]) -> str:
    blocks = t["p99_per_1000_ms"]
    return f"{min(blocks):.2f}-{max(blocks):.2f}" if blocks else "-"


def report_line(t: Dict[str, Any]) -> str:
    share = "" if t["huge_page_share"] is None else f", {t['huge_page_share']:.0%} in 2 MiB pages"
    return (f"tail ({t['load']}{share}), {t['queries']:,} queries k={t['k']}: p50 {t['p50_ms']:.3f} p99 "
            f"{t['p99_ms']:.2f} p99.9 {t['p999_ms']:.2f} ms; {far_share(t):.2%} of queries have their 10th "
            f"neighbour >= 10 bits away; p99 of 1,000-query blocks {block_spread(t)} ms")


def markdown(records: List[Dict[str, Any]]) -> List[str]:
    rows = [r for r in records if "tail" in r]
    if not rows:
        return []
    lines = ["## The 10-NN tail", "",
             "Fresh single queries (`--tail-queries`, `--tail-load`); far = the share whose 10th neighbour is "
             ">= 10 bits away (the long walks); 2 MiB = the share of the mapping in 2 MiB pages; the last "
             "column is the p99 of each block of 1,000 of these queries: how far a p99 of 1,000 queries strays.", "",
             "| codes | N | load | 2 MiB | queries | far | p50 / p99 / p99.9 ms | p99 of 1,000-query blocks (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["tail"]
        share = "-" if t["huge_page_share"] is None else f"{t['huge_page_share']:.0%}"
        lines.append(f"| {r['dist']}, {r['nbits']}-bit | {r['n']:.0e} | {t['load']} | {share} | {t['queries']:,} | "
                     f"{far_share(t):.2%} | {t['p50_ms']:.3f} / **{t['p99_ms']:.2f}** / {t['p999_ms']:.2f} | "
                     f"{block_spread(t)} |")
    return lines
