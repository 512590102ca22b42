"""MultiIndexHashing removals: their cost, and search latency while they run.

    python bench/bench_mih_remove.py                      # 1M clustered 64-bit codes, 1000 removals one by one
    python bench/bench_mih_remove.py --removes 10         # fewer (an index that rebuilds per removal)
    python bench/bench_mih_remove.py --compaction         # also: removals in batches until the tables compact

One thread removes random ids one at a time (``index.remove([id])``) while another runs
single-query k-NN searches (k=10, one thread each) back to back; the search latencies
measured during the removals are compared with those of the same searcher on the idle
index. ``--compaction`` then removes batches of --batch ids until the tables are rebuilt
(the removed codes pass 1/8 of the tables; needs ``tombstones``, absent before issue #12), with the searcher still running: its worst
latency shows whether the rebuild blocked it. Every phase ends with an exactness check
against FlatIndex on the surviving codes. Figures before and after issue #12 at 1M codes:
bench/results/mih_remove.json.
"""
from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np

import nash_index as ni
from nash_index.index import synthetic


def parse_count(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 10**3, "m": 10**6}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


class Searcher(threading.Thread):
    """Single-query searches back to back until stopped; records each latency (s)."""

    def __init__(self, index, queries: np.ndarray) -> None:
        super().__init__(daemon=True)
        self.index, self.queries = index, queries
        self.latencies: list = []
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            q = self.queries[i % len(self.queries)]
            t0 = time.perf_counter()
            self.index.search(q, 10, num_threads=1)
            self.latencies.append(time.perf_counter() - t0)
            i += 1


def latency_summary(lat: list) -> dict:
    a = np.asarray(lat) * 1e3
    if a.size == 0:
        return {"searches": 0}
    return {"searches": int(a.size), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max())}


def with_searcher(index, queries, fn):
    s = Searcher(index, queries)
    s.start()
    try:
        out = fn()
    finally:
        s.stop.set()
        s.join()
    return out, latency_summary(s.latencies)


def check_exact(index, flat, queries) -> None:
    a, b = flat.search(queries, 10), index.search(queries, 10)
    if not (np.array_equal(a.distances, b.distances) and np.array_equal(a.ids, b.ids)):
        raise SystemExit("MIH result differs from FlatIndex")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="1M")
    p.add_argument("--nbits", type=int, default=64)
    p.add_argument("--removes", type=int, default=1000, help="ids removed one by one")
    p.add_argument("--idle", type=float, default=2.0, help="seconds of searches on the idle index")
    p.add_argument("--compaction", action="store_true", help="then remove batches until the tables compact")
    p.add_argument("--batch", type=int, default=5000, help="--compaction: ids per remove call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    n = parse_count(args.n)
    rng = np.random.default_rng(args.seed)
    centres = synthetic.random_centres(max(1, n // 1000), args.nbits, rng)
    db = synthetic.clustered_codes(n, args.nbits, centres, 0.1, rng)
    queries = synthetic.clustered_codes(200, args.nbits, centres, 0.1, rng)
    index, flat = ni.MultiIndexHashing(args.nbits), ni.FlatIndex(args.nbits)
    t0 = time.perf_counter()
    index.add(db)
    build_s = time.perf_counter() - t0
    flat.add(db)
    out = {"n": n, "nbits": args.nbits, "m": index.m, "build_s": build_s, "version": ni.__version__}
    print(f"n={n} nbits={args.nbits} m={index.m} build {build_s:.2f} s")

    _, idle = with_searcher(index, queries, lambda: time.sleep(args.idle))
    out["idle"] = idle
    print("search, idle index:       ", idle)

    doomed = rng.permutation(n)[: args.removes].astype(np.int64)
    per_call: list = []

    def remove_one_by_one():
        for i in doomed:
            t = time.perf_counter()
            index.remove(np.array([i]))
            per_call.append(time.perf_counter() - t)

    _, during = with_searcher(index, queries, remove_one_by_one)
    flat.remove(doomed)
    check_exact(index, flat, queries)
    pc = np.asarray(per_call) * 1e3
    out["remove_one_by_one"] = {"count": len(pc), "total_s": float(pc.sum() / 1e3), "p50_ms": float(np.median(pc)),
                                "max_ms": float(pc.max()), "search_during": during}
    print(f"{len(pc)} removals one by one: {pc.sum() / 1e3:.3f} s (p50 {np.median(pc):.3f} ms, max {pc.max():.3f} ms)")
    print("search during removals:   ", during)

    if args.compaction:
        live = np.setdiff1d(np.arange(n), doomed)
        order = rng.permutation(live)
        stats = {"calls": 0, "ids": 0, "call_ms": []}

        def remove_batches():
            for lo in range(0, len(order), args.batch):
                t = time.perf_counter()
                index.remove(order[lo:lo + args.batch])
                stats["call_ms"].append((time.perf_counter() - t) * 1e3)
                stats["calls"] += 1
                stats["ids"] += min(args.batch, len(order) - lo)
                if index.tombstones == 0:
                    return  # the tables were rebuilt over the survivors

        _, during_c = with_searcher(index, queries, remove_batches)
        flat.remove(order[: stats["ids"]])
        check_exact(index, flat, queries)
        calls = np.asarray(stats["call_ms"])
        out["compaction"] = {"calls": stats["calls"], "ids": stats["ids"], "max_call_ms": float(calls.max()),
                             "p50_call_ms": float(np.median(calls)), "search_during": during_c}
        print(f"compaction after {stats['ids']} ids in {stats['calls']} calls of {args.batch}: "
              f"p50 call {np.median(calls):.1f} ms, max call (the rebuild) {calls.max():.1f} ms")
        print("search during compaction: ", during_c)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
