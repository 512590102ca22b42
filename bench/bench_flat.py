"""FlatIndex vs faiss IndexBinaryFlat vs a numpy scan (exact Hamming k-NN).

    python bench/bench_flat.py            # full sweep (N 1M,10M x nbits 32..256 x k x batch x threads)
    python bench/bench_flat.py --quick    # the target configurations only
    python bench/bench_flat.py --n 1M --nbits 64 --k 10 --batch 1000 --threads 1,all

Prints queries/s, p50/p99 latency, the SIMD level, faiss and numpy figures from
the same run, the speed-up over faiss, and the ratio of nash_index's time to the
memory-bandwidth bound (database bytes / measured read bandwidth of a buffer of
the same size, with the same thread count). Writes flat.json and flat.png to
--out (default bench/results/). Distances are checked against faiss for every configuration.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

faiss = harness.import_faiss()  # before nash_index: sets faiss's OpenMP wait policy (see harness)

import nash_index as ni  # noqa: E402
from nash_index.index.synthetic import clustered_codes, random_centres, uniform_codes  # noqa: E402

QUICK = dict(n=[1_000_000, 10_000_000], nbits=[64, 128], k=[10, 100], batch=[1, 1000], threads=["1", "all"])


def numpy_knn(db_words: np.ndarray, q_words: np.ndarray, k: int) -> np.ndarray:
    """A straightforward numpy scan: xor + bitwise_count over 64-bit words, argpartition."""
    d = np.bitwise_count(db_words ^ q_words).sum(axis=1, dtype=np.int32) if db_words.shape[1] > 1 else \
        np.bitwise_count(db_words[:, 0] ^ q_words[0]).astype(np.int32)
    kk = min(k, d.shape[0])
    part = np.argpartition(d, kk - 1)[:kk]
    return np.sort(d[part])


def as_words(codes: np.ndarray) -> np.ndarray:
    cs = codes.shape[1]
    if cs % 8 == 0:
        return codes.view(np.uint64)
    if cs % 4 == 0:
        return codes.view(np.uint32)
    return codes


def run(args) -> list:
    records = []
    level = ni.simd_level()
    ncpu = ni.get_num_threads()
    print(f"# nash_index SIMD level: {level}; threads available: {ncpu}; load average: {os.getloadavg()}")
    print(f"# machine: {harness.machine_info().get('cpu')}; faiss: {getattr(faiss, '__version__', 'missing')}")
    for n in args.n:
        for nbits in args.nbits:
            cs = nbits // 8
            gen_seed = 1 + nbits
            nq = max(args.batch + [args.single_queries])
            if args.dist == "uniform":
                db = uniform_codes(n, nbits, seed=gen_seed)
                queries = uniform_codes(nq, nbits, seed=99)
            else:  # queries: fresh draws around the database's centres
                rng = np.random.default_rng(gen_seed)
                centres = random_centres(args.centres, nbits, rng)
                db = clustered_codes(n, nbits, centres=centres, flip=args.flip, seed=rng)
                queries = clustered_codes(nq, nbits, centres=centres, flip=args.flip, seed=rng)
            index, _, rss_index = harness.timed_add(ni.FlatIndex(nbits), db)
            fidx = None
            if faiss is not None and not args.no_faiss:
                fidx = faiss.IndexBinaryFlat(nbits)
                fidx.add(db)
            bw = {}
            for th in args.threads:
                nth = ncpu if th == "all" else int(th)
                bw[nth] = harness.memory_read_bandwidth(max(db.nbytes, 64 << 20), threads=nth, repeats=5)
            print(f"\n## N={n:,} nbits={nbits}: database {db.nbytes / 1e6:.0f} MB, index RSS +{rss_index / 1e6:.0f} MB "
                  f"(N*code_size = {n * cs / 1e6:.0f} MB); read bandwidth "
                  + ", ".join(f"{t} thr {b / 1e9:.1f} GB/s" for t, b in bw.items()))
            rows = []
            for batch in args.batch:
                for th in args.threads:
                    nth = ncpu if th == "all" else int(th)
                    for k in args.k:
                        rec = bench_one(index, fidx, db, queries, n, nbits, k, batch, nth, bw[nth], args)
                        rec.update(n=n, nbits=nbits, k=k, batch=batch, threads=nth, simd=level,
                                   index_rss_mb=rss_index / 1e6, code_mb=n * cs / 1e6)
                        records.append(rec)
                        rows.append(row_of(rec))
            print(harness.table(rows, ["batch", "thr", "k", "nash q/s", "p50 ms", "p99 ms", "faiss q/s",
                                       "faiss p50", "x faiss", "numpy q/s", "bound ms", "x bound"]))
            del index, fidx
    return records


def bench_one(index, fidx, db, queries, n, nbits, k, batch, nth, bw, args) -> dict:
    nq = args.single_queries if batch == 1 else batch
    q = queries[:nq]
    reps = args.repeats if n * batch <= 2_000_000_000 else max(1, args.repeats // 2)
    res = index.search(q, k, num_threads=nth)
    t_nash = harness.time_search(lambda x: index.search(x, k, num_threads=nth), q, batch == 1, reps, args.budget)
    rec = dict(nash_qps=harness.qps(t_nash, batch), nash_p50_ms=t_nash.p50 * 1e3, nash_p99_ms=t_nash.p99 * 1e3)
    # Lower bound: each batch streams the database once per call (queries in one pass).
    bound = db.nbytes / bw
    rec["bound_ms"] = bound * 1e3
    rec["x_bound"] = t_nash.median / bound
    if fidx is not None:
        faiss.omp_set_num_threads(nth)
        fd, _ = fidx.search(q, k)
        if not np.array_equal(fd.astype(np.int64), np.where(res.ids < 0, fd, res.distances).astype(np.int64)):
            raise SystemExit(f"distance mismatch against faiss at n={n} nbits={nbits} k={k}")
        t_f = harness.time_search(lambda x: fidx.search(x, k), q, batch == 1, reps, args.budget)
        rec.update(faiss_qps=harness.qps(t_f, batch), faiss_p50_ms=t_f.p50 * 1e3, faiss_p99_ms=t_f.p99 * 1e3)
        rec["speedup_vs_faiss"] = rec["nash_qps"] / rec["faiss_qps"]
    if not args.no_numpy and nth == 1:
        # numpy is single-threaded: a few queries give its rate (it scans per query).
        words, qw = as_words(db), as_words(q)
        sample = min(nq, 3 if n >= 5_000_000 else 10)
        t_np = harness.time_calls(lambda: [numpy_knn(words, qw[i : i + 1], k) for i in range(sample)], repeats=1,
                                  warmup=0)
        rec["numpy_qps"] = sample / t_np.median
    return rec


def row_of(r: dict) -> list:
    cells = [("nash_qps", "%.0f"), ("nash_p50_ms", "%.3f"), ("nash_p99_ms", "%.3f"), ("faiss_qps", "%.0f"),
             ("faiss_p50_ms", "%.3f"), ("speedup_vs_faiss", "%.2f"), ("numpy_qps", "%.1f"), ("bound_ms", "%.2f"),
             ("x_bound", "%.2f")]
    return [r["batch"], r["threads"], r["k"]] + [harness.cell(r, key, fmt) for key, fmt in cells]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="1M,10M")
    p.add_argument("--nbits", default="32,64,128,256")
    p.add_argument("--k", default="1,10,100")
    p.add_argument("--batch", default="1,1000")
    p.add_argument("--threads", default="1,all", help="comma list of counts or 'all'")
    p.add_argument("--quick", action="store_true", help="only the target configurations (N, 64/128 bits, k 10/100)")
    p.add_argument("--single-queries", type=int, default=50, help="queries timed one by one for batch=1")
    p.add_argument("--dist", choices=["uniform", "clustered"], default="uniform")
    p.add_argument("--centres", type=int, default=64)
    p.add_argument("--flip", type=float, default=0.1)
    p.add_argument("--no-numpy", action="store_true")
    harness.add_speed_args(p, name="flat")
    a = p.parse_args(argv)
    if a.quick:
        a.n, a.nbits, a.k, a.batch, a.threads = (",".join(map(str, QUICK[x])) for x in ("n", "nbits", "k", "batch", "threads"))
    a.n, a.nbits, a.k, a.batch = (harness.parse_list(x) for x in (a.n, a.nbits, a.k, a.batch))
    a.threads = [t.strip() for t in a.threads.split(",")]
    t0 = time.time()
    records = run(a)
    meta = dict(machine=harness.machine_info(), simd=ni.simd_level(), argv=sys.argv[1:], seconds=time.time() - t0,
                omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
                peak_rss_mb=harness.peak_rss_bytes() / 1e6)
    path = harness.save_json(a.name, out=a.out, payload=dict(meta=meta, records=records))
    png = harness.plot_bars(a.name, records, ["n", "nbits", "k", "batch", "threads"], "speedup_vs_faiss", "simd",
                            title="nash_index FlatIndex speed-up over faiss IndexBinaryFlat", out=a.out) \
        if records and "speedup_vs_faiss" in records[0] else None
    print(f"\n# wrote {path}" + (f" and {png}" if png else "") + f"; peak RSS {meta['peak_rss_mb']:.0f} MB; "
          f"load average now {os.getloadavg()}")


if __name__ == "__main__":
    main()
