"""Rows of bench_limits for many callers: 1..16 Python threads each calling ``search`` with single queries.

Each caller thread runs its own queries for a fixed time; the row gives the total queries per
second, the p50 / p99 latency of the callers' calls, and the total as a share of the best caller
count of the same run (the target: never below 90%). Every caller count is also run with the
search gate set to twice the CPU count (``ni.set_search_slots``; the default is open), alternated
with the default in the same run, for the gate's effect (``gate`` in the JSON).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, List

import numpy as np

import nash_index as ni
from limits_rows import Context, median_of, row
from nash_index.index.factory import make_index
from nash_index.index.synthetic import clustered_codes, random_centres


def _callers(index, queries: np.ndarray, callers: int, seconds: float) -> Dict:
    """Total q/s and per-call latencies of ``callers`` threads searching for ``seconds``."""
    latencies: List[List[float]] = [[] for _ in range(callers)]
    start = threading.Barrier(callers + 1)
    stop = time.perf_counter() + seconds + 1e9  # set for real once every thread is ready

    def caller(c: int) -> None:
        mine = queries[c::callers]
        start.wait()
        i = 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            index.search(mine[i % len(mine)], 10)
            latencies[c].append(time.perf_counter() - t0)
            i += 1

    threads = [threading.Thread(target=caller, args=(c,)) for c in range(callers)]
    for t in threads:
        t.start()
    stop = time.perf_counter() + seconds
    t0, c0 = time.perf_counter(), time.process_time()
    start.wait()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    every = np.concatenate([np.asarray(x) for x in latencies])
    # queries per CPU second: what the calls cost, whatever share of the cores the OS gave them
    return dict(qps=len(every) / elapsed, qps_cpu=len(every) / cpu, p50=float(np.percentile(every, 50)),
                p99=float(np.percentile(every, 99)))


def caller_rows(ctx: Context) -> List[Dict]:
    """Single queries from 1..16 threads, per kind of ``--caller-kinds``, clustered 64-bit codes."""
    rows = []
    nbits, n = 64, ctx.args.callers_n
    rng = np.random.default_rng(3)
    centres = random_centres(1000, nbits, rng)
    db = clustered_codes(n, nbits, centres=centres, flip=0.1, seed=rng)
    queries = clustered_codes(4096, nbits, centres=centres, flip=0.1, seed=rng)
    for kind in ctx.args.caller_kinds:
        index = make_index(nbits, kind=kind)
        index.add(db)
        runs, gated_runs = [], []  # each run: every caller count, back to back; default, then gated
        slots, gated = ni.get_search_slots(), 2 * (os.cpu_count() or 1)
        for _ in range(ctx.args.runs):
            runs.append({c: _callers(index, queries, c, ctx.args.caller_seconds) for c in ctx.args.callers})
            ni.set_search_slots(gated)
            try:
                gated_runs.append({c: _callers(index, queries, c, ctx.args.caller_seconds) for c in ctx.args.callers})
            finally:
                ni.set_search_slots(slots)
        for c in ctx.args.callers:
            shares = [{"share": run[c]["qps"], "best": max(r["qps"] for r in run.values()),
                       "share_cpu": run[c]["qps_cpu"], "best_cpu": max(r["qps_cpu"] for r in run.values())}
                      for run in runs]
            share = median_of(shares, "share", over="best")
            share_cpu = median_of(shares, "share_cpu", over="best_cpu")
            mine, gate = [run[c] for run in runs], [run[c] for run in gated_runs]
            # the gated q/s over the best of the default run: what the gate costs or gains
            gate_shares = [{"share": g[c]["qps"], "best": max(r["qps"] for r in d.values())}
                           for g, d in zip(gated_runs, runs)]
            rows.append(row(f"{kind} callers", f"{kind}, {n / 1e6:g}M clustered 64-bit codes, {c} caller threads",
                            "q/s total", median_of(mine, "qps"), None, None, None, None,
                            goal=">= 90% of the best count (CPU)", met=share_cpu >= 0.9, share_of_best=share,
                            share_of_best_cpu=share_cpu, qps_per_cpu_second=median_of(mine, "qps_cpu"),
                            p50_ms=median_of(mine, "p50") * 1e3, p99_ms=median_of(mine, "p99") * 1e3,
                            callers=c, kind=kind, runs=mine, search_slots=slots,
                            gate=dict(slots=gated, qps=median_of(gate, "qps"), p99_ms=median_of(gate, "p99") * 1e3,
                                      share_of_best=median_of(gate_shares, "share", over="best"), runs=gate)))
        del index
    return rows
