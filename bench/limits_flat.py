"""Rows of bench_limits for the flat scan: one query beyond the LLC, a batch of 1000, the floor of one call.

Each row function takes the run's context (:class:`limits_rows.Context`) and returns row dicts
(:func:`limits_rows.row`). In every run, the bound, nash_index and faiss are measured back to back
and the ratios taken within the run; the row keeps the median of the runs' ratios.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import nash_index as ni
from limits_bounds import pair_rate, read_seconds
from limits_rows import Context, median_of, row
from nash_index.index.synthetic import uniform_codes


def _latency(search: Callable[[np.ndarray], object], queries: np.ndarray) -> Tuple[float, float]:
    """Median (wall, CPU) seconds of one single-query call over ``queries`` (after one warm-up call)."""
    search(queries[:1])
    walls, cpus = [], []
    for i in range(len(queries)):
        c0, t0 = time.process_time(), time.perf_counter()
        search(queries[i : i + 1])
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def _call_seconds(call: Callable[[], object], repeats: int) -> Tuple[float, float]:
    """Median (wall, CPU) seconds of ``call()`` over ``repeats`` calls (after one warm-up call)."""
    call()
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        call()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def _faiss_best(ctx: Context, measure: Callable[[Callable], Tuple[float, float]], call) -> Tuple[float, float]:
    """faiss's (wall, CPU) seconds at its best thread count of ``ctx`` (least wall time, same run)."""
    best = (float("inf"), float("inf"))
    for threads in ctx.thread_counts:
        ctx.faiss.omp_set_num_threads(threads)
        best = min(best, measure(call))
    return best


def _run(bound: Optional[Tuple[float, float]], ours: Tuple[float, float], faiss) -> Dict:
    """One run's figures: wall seconds and CPU seconds (``*_cpu``) of each."""
    out = dict(ours=ours[0], ours_cpu=ours[1], faiss=faiss and faiss[0], faiss_cpu=faiss and faiss[1])
    if bound is not None:
        out.update(bound=bound[0], bound_cpu=bound[1])
    return out


def _pair(ctx: Context, nbits: int, n: int, seed: int):
    db = uniform_codes(n, nbits, seed=seed)
    index = ni.FlatIndex(nbits)
    index.add(db)
    fidx = None
    if ctx.faiss is not None:
        fidx = ctx.faiss.IndexBinaryFlat(nbits)
        fidx.add(db)
    return db, index, fidx


def _check(index, fidx, queries: np.ndarray, k: int, what: str) -> None:
    """Distances equal to faiss's (exact search both): a fast figure must also be a right one."""
    if fidx is None:
        return
    ours = index.search(queries, k).distances
    theirs, _ = fidx.search(queries, k)
    if not np.array_equal(ours, theirs.astype(ours.dtype)):
        raise SystemExit(f"{what}: distances differ from faiss")


def _medians(runs: List[Dict]) -> Tuple[Optional[float], ...]:
    """ours, faiss, bound, and the ratios x_bound, x_bound_cpu, x_faiss, x_faiss_cpu: medians over the runs."""
    return (*(median_of(runs, key) for key in ("ours", "faiss", "bound")),
            median_of(runs, "ours", over="bound"), median_of(runs, "ours_cpu", over="bound_cpu"),
            median_of(runs, "faiss", over="ours"), median_of(runs, "faiss_cpu", over="ours_cpu"))


def single_query_rows(ctx: Context) -> List[Dict]:
    """One query at a time, N beyond the LLC: latency against the DRAM read bound and faiss."""
    rows = []
    for nbits in ctx.args.widths:
        n = ctx.args.single_mb * (1 << 20) // (nbits // 8)
        db, index, fidx = _pair(ctx, nbits, n, seed=nbits)
        queries = uniform_codes(ctx.args.single_queries, nbits, seed=7)
        _check(index, fidx, queries[:2], 10, f"single {nbits} bits")
        runs = []
        for _ in range(ctx.args.runs):
            bound = read_seconds(db, ctx.cores)
            ours = _latency(lambda q: index.search(q, 10), queries)
            theirs = _faiss_best(ctx, lambda c: _latency(c, queries), lambda q: fidx.search(q, 10)) \
                if fidx is not None else None
            runs.append(_run(bound, ours, theirs))
        index = fidx = None  # freed before the next width is built
        del db
        ours, theirs, bound, x_bound, x_bound_cpu, x_faiss, x_faiss_cpu = _medians(runs)
        rows.append(row("single query", f"{nbits}-bit, {n / 1e6:g}M codes ({n * nbits // 8 >> 20} MB), k=10",
                        "ms/query", ours * 1e3, theirs and theirs * 1e3, bound * 1e3, x_bound, x_faiss,
                        goal="<= 1.25x bound (CPU), >= 2x faiss",
                        met=x_bound_cpu <= 1.25 and (x_faiss is None or x_faiss >= 2.0), x_bound_cpu=x_bound_cpu,
                        x_faiss_cpu=x_faiss_cpu, runs=runs))
    return rows


def batch_rows(ctx: Context) -> List[Dict]:
    """A batch of queries per call: time against the compute bound (xor + popcount + compare, codes in L1)."""
    rows = []
    nq = ctx.args.batch
    for nbits in ctx.args.widths:
        n = ctx.args.batch_n
        db, index, fidx = _pair(ctx, nbits, n, seed=100 + nbits)
        queries = uniform_codes(nq, nbits, seed=8)
        _check(index, fidx, queries[:50], 10, f"batch {nbits} bits")
        runs = []
        for _ in range(ctx.args.runs):
            rate, rate_cpu = pair_rate(nbits, ctx.cores)
            bound = (n * nq / rate, n * nq / rate_cpu)
            ours = _call_seconds(lambda: index.search(queries, 10), ctx.args.repeats)
            theirs = _faiss_best(ctx, lambda c: _call_seconds(c, max(1, ctx.args.repeats - 1)),
                                 lambda: fidx.search(queries, 10)) if fidx is not None else None
            runs.append(_run(bound, ours, theirs))
        index = fidx = None  # freed before the next width is built
        del db
        ours, theirs, bound, x_bound, x_bound_cpu, x_faiss, x_faiss_cpu = _medians(runs)
        goal, met = ("<= 2x bound (CPU; >= 50%)", x_bound_cpu <= 2.0) if nbits == 64 else \
            (">= 5x faiss", x_faiss is not None and x_faiss >= 5.0)
        rows.append(row(f"batch of {nq}", f"{nbits}-bit, {n / 1e6:g}M codes, k=10", "q/s", nq / ours,
                        theirs and nq / theirs, nq / bound, x_bound, x_faiss, goal=goal, met=met,
                        x_bound_cpu=x_bound_cpu, x_faiss_cpu=x_faiss_cpu, runs=runs))
    return rows


def floor_rows(ctx: Context) -> List[Dict]:
    """The floor of one call: one query, 1,000 codes, k=10 (argument checks, wrapping, results)."""
    nbits, calls = 64, ctx.args.floor_calls
    db, index, fidx = _pair(ctx, nbits, 1000, seed=5)
    query = db[:1].copy()

    def per_call(search) -> float:
        def loop():
            for _ in range(calls):
                search(query, 10)
        wall, cpu = _call_seconds(loop, 5)
        return wall / calls, cpu / calls

    runs = []
    for _ in range(ctx.args.runs):
        ours = per_call(index.search)
        theirs = _faiss_best(ctx, per_call, fidx.search) if fidx is not None else None
        runs.append(_run(None, ours, theirs))
    ours, theirs = median_of(runs, "ours"), median_of(runs, "faiss")
    x_faiss = median_of(runs, "faiss", over="ours")
    return [row("floor of one call", "64-bit, 1,000 codes, one query, k=10", "us/call", ours * 1e6,
                theirs and theirs * 1e6, None, None, x_faiss, goal="<= faiss (>= 1x)",
                met=x_faiss is not None and x_faiss >= 1.0,
                x_faiss_cpu=median_of(runs, "faiss_cpu", over="ours_cpu"), runs=runs)]
