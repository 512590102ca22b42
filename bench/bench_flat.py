"""FlatIndex vs faiss IndexBinaryFlat vs a numpy scan (exact Hamming k-NN).

    python bench/bench_flat.py            # full sweep (N 1M,10M x nbits 32..256 x k x batch x threads)
    python bench/bench_flat.py --quick    # N 1M, 64/128 bits, k 10 (about a minute; --n etc. still apply)
    python bench/bench_flat.py --n 1M --nbits 64 --k 10 --batch 1000 --threads 1,all

Prints queries/s, p50/p99 latency per query (batch: call time / batch size, the
definition of harness.Timing), the SIMD level, faiss and numpy figures from
the same run, the speed-up over faiss, and the ratio of nash_index's time to the
memory-bandwidth bound (database bytes / measured read bandwidth of a buffer of
the same size, with the same thread count). Writes flat.json and flat.png to
--out (default bench/out/; the tracked bench/results/ only when passed). Distances are checked against faiss for every configuration.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

faiss = harness.import_faiss()  # first: sets faiss's OpenMP wait policy before any OpenMP runtime starts

import nash_index as ni  # noqa: E402
from nash_index.index.synthetic import clustered_codes, random_centres, uniform_codes  # noqa: E402

# --quick: under 2 minutes on 2 shared cores (bench/out/flat.json records the seconds).
QUICK = dict(n="1M", nbits="64,128", k="10", batch="1,1000", threads="1,all", budget=3.0)
FULL = dict(n="1M,10M", nbits="32,64,128,256", k="1,10,100", batch="1,1000", threads="1,all", budget=20.0)


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
            print(harness.table(rows, ["batch", "thr", "k", "nash q/s", "p50 ms/q", "p99 ms/q", "faiss q/s",
                                       "faiss p50", "x faiss", "numpy q/s", "bound ms", "x bound"]))
            del index, fidx
    return records


def bench_one(index, fidx, db, queries, n, nbits, k, batch, nth, bw, args) -> dict:
    nq = args.single_queries if batch == 1 else batch
    q = queries[:nq]
    reps = args.repeats if n * batch <= 2_000_000_000 else max(1, args.repeats // 2)
    res = index.search(q, k, num_threads=nth)
    t_nash = harness.time_search(lambda x: index.search(x, k, num_threads=nth), q, batch == 1, reps, args.budget)
    rec = {f"nash_{key}": v for key, v in t_nash.stats().items()}
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
        rec.update({f"faiss_{key}": v for key, v in t_f.stats().items()})
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


def plot(a, records: list):
    """Queries/s of each engine per configuration (horizontal bars, log axis on whole decades)."""
    engines = [("nash_index FlatIndex", "nash_qps"), ("faiss IndexBinaryFlat", "faiss_qps"), ("numpy", "numpy_qps")]
    long = [dict(config=f"{r['n'] / 1e6:g}M {r['nbits']}b k={r['k']} batch {r['batch']} {r['threads']} thr", engine=e,
                 qps=r[key]) for r in records for e, key in engines if r.get(key)]
    return harness.plot_bars(a.name, long, ["config"], "qps", "engine", out=a.out, xlabel="queries / second (log)",
                             title=f"exact Hamming k-NN, flat scan ({records[0]['simd']}; {a.dist} codes)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", help=f"database sizes (default {FULL['n']}; --quick: {QUICK['n']})")
    p.add_argument("--nbits", help=f"default {FULL['nbits']} (--quick: {QUICK['nbits']})")
    p.add_argument("--k", help=f"default {FULL['k']} (--quick: {QUICK['k']})")
    p.add_argument("--batch", help=f"queries per call; default {FULL['batch']}")
    p.add_argument("--threads", help="comma list of counts or 'all' (default 1,all)")
    p.add_argument("--quick", action="store_true", help="N 1M, 64/128 bits, k 10, 3 s per measurement (under 2 min)")
    p.add_argument("--single-queries", type=int, default=50, help="queries timed one by one for batch=1")
    p.add_argument("--dist", choices=["uniform", "clustered"], default="uniform")
    p.add_argument("--centres", type=int, default=64)
    p.add_argument("--flip", type=float, default=0.1)
    p.add_argument("--no-numpy", action="store_true")
    p.add_argument("--no-plot", action="store_true")
    harness.add_speed_args(p, name="flat")
    p.set_defaults(budget=None)
    a = p.parse_args(argv)
    for key, value in (QUICK if a.quick else FULL).items():  # what the command line leaves unset
        if getattr(a, key) is None:
            setattr(a, key, value)
    a.n, a.nbits, a.k, a.batch = (harness.parse_list(x) for x in (a.n, a.nbits, a.k, a.batch))
    a.threads = [t.strip() for t in a.threads.split(",")]
    t0 = time.time()
    records = run(a)
    meta = dict(machine=harness.machine_info(), simd=ni.simd_level(), argv=sys.argv[1:], seconds=time.time() - t0,
                omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
                peak_rss_mb=harness.peak_rss_bytes() / 1e6)
    path = harness.save_json(a.name, out=a.out, payload=dict(meta=meta, records=records))
    png = plot(a, records) if records and not a.no_plot else None
    print(f"\n# wrote {path}" + (f" and {png}" if png else "") + f"; peak RSS {meta['peak_rss_mb']:.0f} MB; "
          f"load average now {os.getloadavg()}")


if __name__ == "__main__":
    main()
