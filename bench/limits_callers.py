"""Rows of bench_limits for many callers: 1..16 Python threads each calling ``search`` with single queries.

Each caller thread runs its own queries for a fixed time; the row gives the total queries per
second, the p50 / p99 latency of the callers' calls, and the total as a share of the best caller
count of the same run (the target: never below 90%). Every caller count is also run with the
search gate set to twice the CPU count (``ni.set_search_slots``; the default is open), alternated
with the default in the same run, for the gate's effect (``gate`` in the JSON). A reference runs
in the same run at each caller count: ``hashlib.sha256`` of 40 kB a call, CPython's own call that
releases the GIL for ~20-30 us (``gil_reference`` in the JSON: its share of its best count, and
context switches per call as ours are). Where it keeps its share and our searches do not, the loss
is the GIL's hand-off to memory-bound work under oversubscription, not a lock of ours.
"""
from __future__ import annotations

import hashlib
import os
import resource
import threading
import time
from typing import Any, Callable, Dict, List

import numpy as np

import nash_index as ni
from limits_rows import Context, median_of, row
from nash_index.index.factory import make_index
from nash_index.index.synthetic import clustered_codes, random_centres

REFERENCE_BLOCK = bytes(40_000)


def _reference_call(_query: np.ndarray) -> Any:
    return hashlib.sha256(REFERENCE_BLOCK).digest()


def _callers(call: Callable[[np.ndarray], Any], queries: np.ndarray, callers: int, seconds: float) -> Dict:
    """Total q/s and per-call latencies of ``callers`` threads making ``call(query)`` for ``seconds``."""
    latencies: List[List[float]] = [[] for _ in range(callers)]
    start = threading.Barrier(callers + 1)
    stop = time.perf_counter() + seconds + 1e9  # set for real once every thread is ready

    def caller(c: int) -> None:
        mine = queries[c::callers]
        start.wait()
        i = 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            call(mine[i % len(mine)])
            latencies[c].append(time.perf_counter() - t0)
            i += 1

    threads = [threading.Thread(target=caller, args=(c,)) for c in range(callers)]
    for t in threads:
        t.start()
    stop = time.perf_counter() + seconds
    t0, c0, r0 = time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
    start.wait()
    for t in threads:
        t.join()
    elapsed, cpu, r1 = time.perf_counter() - t0, time.process_time() - c0, resource.getrusage(resource.RUSAGE_SELF)
    every = np.concatenate([np.asarray(x) for x in latencies])
    switches = (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw)
    # queries per CPU second: what the calls cost, whatever share of the cores the OS gave them
    return dict(qps=len(every) / elapsed, qps_cpu=len(every) / cpu, p50=float(np.percentile(every, 50)),
                p99=float(np.percentile(every, 99)), switches_per_call=switches / len(every))


def _shares(runs: List[Dict[int, Dict]], c: int, key: str) -> float:
    """The median over runs of caller count c's ``key`` over the best count's in the same run."""
    return median_of([{"x": run[c][key], "best": max(r[key] for r in run.values())} for run in runs], "x", over="best")


def caller_rows(ctx: Context) -> List[Dict]:
    """Single queries from 1..16 threads, per kind of ``--caller-kinds``, clustered 64-bit codes."""
    rows = []
    nbits, n = 64, ctx.args.callers_n
    rng = np.random.default_rng(3)
    centres = random_centres(1000, nbits, rng)
    db = clustered_codes(n, nbits, centres=centres, flip=0.1, seed=rng)
    queries = clustered_codes(4096, nbits, centres=centres, flip=0.1, seed=rng)
    reference = [{c: _callers(_reference_call, queries, c, ctx.args.caller_seconds) for c in ctx.args.callers}
                 for _ in range(ctx.args.runs)]
    for kind in ctx.args.caller_kinds:
        index = make_index(nbits, kind=kind)
        index.add(db)

        def search(query: np.ndarray, index=index) -> Any:
            return index.search(query, 10)
        runs, gated_runs = [], []  # each run: every caller count, back to back; default, then gated
        slots, gated = ni.get_search_slots(), 2 * (os.cpu_count() or 1)
        for _ in range(ctx.args.runs):
            runs.append({c: _callers(search, queries, c, ctx.args.caller_seconds) for c in ctx.args.callers})
            ni.set_search_slots(gated)
            try:
                gated_runs.append({c: _callers(search, queries, c, ctx.args.caller_seconds) for c in ctx.args.callers})
            finally:
                ni.set_search_slots(slots)
        for c in ctx.args.callers:
            share, share_cpu = _shares(runs, c, "qps"), _shares(runs, c, "qps_cpu")
            ref = [run[c] for run in reference]
            gil_reference = dict(call="hashlib.sha256 of 40 kB", qps=median_of(ref, "qps"),
                                 share_of_best_cpu=_shares(reference, c, "qps_cpu"),
                                 switches_per_call=median_of(ref, "switches_per_call"), runs=ref)
            mine, gate = [run[c] for run in runs], [run[c] for run in gated_runs]
            # the gated q/s over the best of the default run: what the gate costs or gains
            gate_shares = [{"share": g[c]["qps"], "best": max(r["qps"] for r in d.values())}
                           for g, d in zip(gated_runs, runs)]
            rows.append(row(f"{kind} callers", f"{kind}, {n / 1e6:g}M clustered 64-bit codes, {c} caller threads",
                            "q/s total", median_of(mine, "qps"), None, None, None, None,
                            goal=">= 90% of the best count (CPU)", met=share_cpu >= 0.9, share_of_best=share,
                            share_of_best_cpu=share_cpu, qps_per_cpu_second=median_of(mine, "qps_cpu"),
                            p50_ms=median_of(mine, "p50") * 1e3, p99_ms=median_of(mine, "p99") * 1e3,
                            callers=c, kind=kind, runs=mine, search_slots=slots, gil_reference=gil_reference,
                            switches_per_call=median_of(mine, "switches_per_call"),
                            gate=dict(slots=gated, qps=median_of(gate, "qps"), p99_ms=median_of(gate, "p99") * 1e3,
                                      share_of_best=median_of(gate_shares, "share", over="best"), runs=gate)))
        del index
    return rows
