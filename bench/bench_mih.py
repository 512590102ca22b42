"""MultiIndexHashing vs FlatIndex vs faiss IndexBinaryFlat / IndexBinaryMultiHash (exact Hamming k-NN).

    python bench/bench_mih.py                     # full sweep: N 1M,10M x nbits 64,128 x k 1,10,100
                                                  #   x single/batch x uniform, clustered (50, 1/8), (200, 0.08)
    python bench/bench_mih.py --quick             # the issue's target configurations (N = 10M unless --n)
    python bench/bench_mih.py --quick --n 1M      # the same at 1M codes
    python bench/bench_mih.py --calibrate         # the cost-model constants of MihParams (mih_search.cpp)

Codes: "uniform", or "clustered (c, p)": c random centres, every bit of a code
flipped with probability p. Queries are fresh draws from the same distribution
(not members of the database).

For every configuration (N, codes, nbits, k, single query or a batch of 1000)
it prints, for the MIH: queries/s, p50/p99 latency (single: one call per
query; batch: one call for the whole batch); from its work counters
(MultiIndexHashing.search_with_work), over the queries answered from the
tables, the median candidates verified ("cand") and bucket probes per query,
and ns per verified candidate ("ns/cand": time over candidates, probes and call
overhead included; single: median over the timed calls of those queries; batch:
thread time of the call, shown when <= 5% were scanned); "scan%": the queries answered by
its flat-scan fallback instead. From the same run: our FlatIndex (all
threads), faiss IndexBinaryFlat and faiss IndexBinaryMultiHash (as many tables
as the MIH's m, nflip raised from 0 until its recall@k reaches
--target-recall, else the best recall reached; recall is tie-aware, see
recall_at_k), and the MIH's speed-up over each ("x flat", "x faiss", "x mh").
Per (N, codes, nbits): the m used, build times and memory (the MIH's table
bytes beyond codes and ids and their ratio to the code bytes; RSS growth of
each index, measured after malloc_trim).

Every MIH result (single-query and batch paths) is checked against FlatIndex
(distances and ids, exactly); any difference aborts the run. The uniform
64-bit configuration also checks that make_index's automatic choice is not
slower than FlatIndex by more than 10% (exit status 2 otherwise, after the
results are written).

--calibrate fits, per query and single-threaded with the fallback off,
time = c0 + t_probe * probes + t_cand * candidates over several code sets,
m and k, and times the flat scan the fallback would use (all threads, single
query and a batch of 1000). In candidate units (verify one candidate = 1):
probe_cost = t_probe / t_cand; scan_cost_single = scan time per code of one
query / t_cand; scan_cost_batch = scan thread-time per code per query in a
batch / t_cand (walks of a batch run on all threads, like the scan).

Writes bench/results/mih.json and mih.png (--calibrate: mih_calibration.json).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

# faiss uses OpenMP; its default active spin-waiting collapses on a shared machine
# (see bench_flat.py), so give it the passive policy unless told otherwise.
if "--omp-active" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import nash_index as ni  # noqa: E402

try:
    import faiss
except ImportError:  # faiss is the `bench` extra
    faiss = None

# name -> (centres, flip probability); None: uniform codes
DISTS: Dict[str, Optional[Tuple[int, float]]] = {
    "uniform": None,
    "c50": (50, 1 / 8),
    "c200": (200, 0.08),
}
DIST_LABEL = {"uniform": "uniform", "c50": "clustered(50,1/8)", "c200": "clustered(200,0.08)"}
# The target configurations: (codes, nbits); k = 10, single query and a batch of 1000.
QUICK_CASES = [("c50", 64), ("c200", 64), ("c50", 128), ("uniform", 64)]
AUTO_TOLERANCE = 0.10  # make_index's choice may be at most 10% slower than FlatIndex on uniform codes


# ------------------------------------------------------------------ data
def make_data(dist: str, n: int, nq: int, nbits: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """n database codes and nq queries, independent draws from the same distribution."""
    spec = DISTS[dist]
    if spec is None:
        allc = harness.uniform_codes(n + nq, nbits, seed=seed)
    else:
        allc = harness.clustered_codes(n + nq, nbits, c=spec[0], p=spec[1], seed=seed)
    # Rows are i.i.d., so the last nq are queries that are not database members.
    return np.ascontiguousarray(allc[:n]), np.ascontiguousarray(allc[n:])


def settled_rss() -> int:
    """RSS after handing freed heap memory back to the OS (glibc), so that an
    index built after another one was freed does not reuse its pages unseen."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return harness.rss_bytes()


def data_seed(dist: str, nbits: int) -> int:
    return 1000 * list(DISTS).index(dist) + nbits


# ------------------------------------------------------------- measuring
def measure(search, queries: np.ndarray, mode: str, args, warmup: int = 1) -> harness.Timing:
    """single: one call per query (latency samples); batch: repeated calls over the whole batch.

    `warmup=0` for the batch of a slow baseline already called once (check or tuning).
    """
    if mode == "single":
        return harness.time_each(lambda i: search(queries[i : i + 1]), count=queries.shape[0], budget=args.budget)
    return harness.time_calls(lambda: search(queries), repeats=args.repeats, warmup=warmup, budget=args.budget)


def qps_of(t: harness.Timing, nq: int, mode: str) -> float:
    return 1.0 / t.median if mode == "single" else nq / t.median


def recall_at_k(found_d: np.ndarray, found_i: np.ndarray, exact_d: np.ndarray, nbits: int) -> float:
    """Tie-aware recall@k: per query, the multiset intersection of returned and exact distances, over k.

    Equals id recall when distances have no ties at the k-th place, and does
    not penalise a different (equally correct) choice among tied codes.
    Missing results (id -1) count as misses.
    """
    nq, k = exact_d.shape
    top = nbits + 1  # bin for "missing"
    fd = np.where(found_i >= 0, np.clip(found_d, 0, nbits), top).astype(np.int64)
    ed = np.clip(exact_d, 0, top).astype(np.int64)
    rows = np.repeat(np.arange(nq), k)
    cf = np.zeros((nq, top + 1), dtype=np.int64)
    ce = np.zeros((nq, top + 1), dtype=np.int64)
    np.add.at(cf, (rows, fd.ravel()), 1)
    np.add.at(ce, (rows, ed.ravel()), 1)
    return float(np.minimum(cf[:, :top], ce[:, :top]).sum() / (nq * k))


def check_equal(where: str, ref, got_d: np.ndarray, got_i: np.ndarray) -> None:
    ref_d, ref_i = ref
    if np.array_equal(ref_d, got_d) and np.array_equal(ref_i, got_i):
        return
    bad = np.nonzero(~(np.all(ref_d == got_d, axis=1) & np.all(ref_i == got_i, axis=1)))[0]
    q = int(bad[0])
    raise SystemExit(
        f"MISMATCH: MultiIndexHashing != FlatIndex at {where}: {bad.size} queries differ; first is query {q}:\n"
        f"  flat d={ref_d[q][:10].tolist()} ids={ref_i[q][:10].tolist()}\n"
        f"  mih  d={got_d[q][:10].tolist()} ids={got_i[q][:10].tolist()}"
    )


def tune_nflip(fmh, queries: np.ndarray, k: int, exact_d: np.ndarray, nbits: int, args) -> Tuple[int, float, list]:
    """Raises faiss multi-hash's nflip from 0 until recall@k >= target (or a limit); keeps the best."""
    tried = []
    best_nflip, best_recall = 0, -1.0
    max_nflip = min(args.max_nflip, fmh.b)
    for nflip in range(0, max_nflip + 1):
        fmh.nflip = nflip
        t0 = time.perf_counter()
        d, i = fmh.search(queries, k)
        dt = time.perf_counter() - t0
        r = recall_at_k(d, i, exact_d, nbits)
        tried.append(dict(nflip=nflip, recall=r, seconds=dt))
        if r > best_recall:
            best_nflip, best_recall = nflip, r
        if r >= args.target_recall or dt > args.budget:
            break
    fmh.nflip = best_nflip
    return best_nflip, best_recall, tried


# ----------------------------------------------------------------- sweep
def cases(args) -> List[Tuple[int, str, int]]:
    if args.quick:
        wanted = [(d, b) for d, b in QUICK_CASES if d in args.dist and b in args.nbits] if args.dist_given \
            else QUICK_CASES
        return [(n, d, b) for n in args.n for d, b in wanted]
    return [(n, d, b) for n in args.n for d in args.dist for b in args.nbits]


def build_case(n: int, dist: str, nbits: int, args) -> dict:
    """Every index over one code set, with build times and memory."""
    nq = max(args.batch, args.single_queries)
    t0 = time.perf_counter()
    db, queries = make_data(dist, n, nq, nbits, data_seed(dist, nbits))
    gen_s = time.perf_counter() - t0
    cs = nbits // 8
    c = dict(n=n, dist=dist, nbits=nbits, db=db, queries=queries, gen_s=gen_s, code_bytes=n * cs,
             ids_bytes=n * 8)

    rss0 = settled_rss()
    t0 = time.perf_counter()
    flat = ni.FlatIndex(nbits)
    flat.add(db)
    c.update(flat=flat, flat_build_s=time.perf_counter() - t0, flat_rss=settled_rss() - rss0)

    rss0 = settled_rss()
    t0 = time.perf_counter()
    mih = ni.MultiIndexHashing(nbits)
    mih.add(db)
    c.update(mih=mih, mih_build_s=time.perf_counter() - t0, mih_rss=settled_rss() - rss0)
    if mih._impl.indexed != n:
        raise SystemExit(f"MultiIndexHashing indexed {mih._impl.indexed} of {n} codes after add")
    c.update(m=mih.m, substring_bits=mih.substring_bits, table_bytes=mih.table_bytes,
             table_ratio=mih.table_bytes / (n * cs))
    c["auto_kind"] = type(ni.make_index(nbits, n_expected=n)).__name__

    c["fflat"] = c["fmh"] = None
    if faiss is not None and not args.no_faiss:
        faiss.omp_set_num_threads(args.nthreads)
        rss0 = settled_rss()
        t0 = time.perf_counter()
        fflat = faiss.IndexBinaryFlat(nbits)
        fflat.add(db)
        c.update(fflat=fflat, fflat_build_s=time.perf_counter() - t0, fflat_rss=settled_rss() - rss0)
        nhash = args.faiss_nhash or mih.m
        b = nbits // nhash
        rss0 = settled_rss()
        t0 = time.perf_counter()
        fmh = faiss.IndexBinaryMultiHash(nbits, nhash, b)
        fmh.add(db)
        c.update(fmh=fmh, fmh_build_s=time.perf_counter() - t0, fmh_rss=settled_rss() - rss0,
                 fmh_nhash=nhash, fmh_b=b, fmh_keys=int(fmh.hashtable_size()))
    del c["db"], db  # every index holds its own copy
    return c


def bench_config(c: dict, k: int, mode: str, ref_all, args) -> dict:
    """One (k, mode) of a code set: every engine timed, the MIH checked against FlatIndex."""
    nbits, n = c["nbits"], c["n"]
    nq = args.single_queries if mode == "single" else args.batch
    q = c["queries"][:nq]
    ref = (ref_all[0][:nq], ref_all[1][:nq])
    flat, mih, nth = c["flat"], c["mih"], args.nthreads
    where = f"N={n} {DIST_LABEL[c['dist']]} nbits={nbits} k={k} {mode}"
    rec = dict(n=n, dist=DIST_LABEL[c["dist"]], nbits=nbits, k=k, mode=mode, nq=nq, threads=nth, m=c["m"])

    # Correctness and work counters (untimed): the path the timed calls take.
    if mode == "single":
        probes, cands, scanned = np.empty(nq, np.int64), np.empty(nq, np.int64), np.empty(nq, bool)
        for i in range(nq):
            res, w = mih.search_with_work(q[i : i + 1], k, num_threads=nth)
            check_equal(f"{where} (query {i})", (ref[0][i : i + 1], ref[1][i : i + 1]), res.distances, res.ids)
            probes[i], cands[i], scanned[i] = w.probes[0], w.candidates[0], w.scanned[0]
    else:
        res, w = mih.search_with_work(q, k, num_threads=nth)
        check_equal(where, ref, res.distances, res.ids)
        probes, cands, scanned = w.probes, w.candidates, w.scanned
    walked = ~scanned
    rec.update(checked_equal=True, scanned_frac=float(scanned.mean()))
    if walked.any():  # work of the queries answered from the tables (a scanned query reads all N codes)
        rec.update(probes_median=float(np.median(probes[walked])), cand_median=float(np.median(cands[walked])),
                   cand_mean=float(cands[walked].mean()))

    t = measure(lambda x: mih.search(x, k, num_threads=nth), q, mode, args)
    rec.update(mih_qps=qps_of(t, nq, mode), mih_p50_us=t.p50 * 1e6, mih_p99_us=t.p99 * 1e6, mih_calls=len(t.times))
    # Time over candidates verified (probes and call overhead included). Single: median over the timed
    # calls of the queries answered from the tables (times[i] is query i; the median resists load
    # spikes); batch: thread time of the whole batch.
    if mode == "single":
        timed = walked[: len(t.times)] & (cands[: len(t.times)] > 0)
        if timed.any():
            per = np.asarray(t.times)[timed] / cands[: len(t.times)][timed]
            rec["ns_per_cand"] = float(np.median(per) * 1e9)
    elif scanned.mean() <= 0.05 and cands.sum() > 0:
        rec["ns_per_cand"] = float(t.median * nth * 1e9 / cands.sum())

    t = measure(lambda x: flat.search(x, k, num_threads=nth), q, mode, args)
    rec.update(flat_qps=qps_of(t, nq, mode), flat_p50_us=t.p50 * 1e6, flat_p99_us=t.p99 * 1e6)
    rec["x_flat"] = rec["mih_qps"] / rec["flat_qps"]

    if c["fflat"] is not None:
        faiss.omp_set_num_threads(nth)
        fd, _ = c["fflat"].search(q, k)
        if not np.array_equal(fd.astype(np.int64), ref[0].astype(np.int64)):
            raise SystemExit(f"faiss IndexBinaryFlat distances differ from FlatIndex at {where}")
        t = measure(lambda x: c["fflat"].search(x, k), q, mode, args, warmup=0)
        rec.update(faiss_flat_qps=qps_of(t, nq, mode), faiss_flat_p50_us=t.p50 * 1e6,
                   faiss_flat_p99_us=t.p99 * 1e6, x_faiss_flat=rec["mih_qps"] / qps_of(t, nq, mode))
    if c["fmh"] is not None:
        fmh = c["fmh"]
        nflip, recall = c["nflip"][k]
        fmh.nflip = nflip
        t = measure(lambda x: fmh.search(x, k), q, mode, args, warmup=0)
        rec.update(faiss_mh_qps=qps_of(t, nq, mode), faiss_mh_p50_us=t.p50 * 1e6, faiss_mh_p99_us=t.p99 * 1e6,
                   faiss_mh_nflip=nflip, faiss_mh_recall=recall, faiss_mh_nhash=c["fmh_nhash"],
                   faiss_mh_b=c["fmh_b"], x_faiss_mh=rec["mih_qps"] / qps_of(t, nq, mode))

    if c["dist"] == "uniform" and nbits == 64:
        # make_index's choice for this N: a MultiIndexHashing (the same as `mih`) or a FlatIndex.
        auto_qps = rec["mih_qps"] if c["auto_kind"] == "MultiIndexHashing" else rec["flat_qps"]
        ratio = auto_qps / rec["flat_qps"]
        if ratio < 1 - AUTO_TOLERANCE and c["auto_kind"] == "MultiIndexHashing":
            # Measure both once more before calling it: the machine may be shared.
            t_f = measure(lambda x: flat.search(x, k, num_threads=nth), q, mode, args)
            t_m = measure(lambda x: mih.search(x, k, num_threads=nth), q, mode, args)
            ratio = max(ratio, t_f.median / t_m.median)
        rec.update(auto_kind=c["auto_kind"], auto_vs_flat=ratio, auto_ok=bool(ratio >= 1 - AUTO_TOLERANCE))
    return rec


BUILD_KEYS = ("n", "nbits", "m", "substring_bits", "table_bytes", "table_ratio", "code_bytes", "ids_bytes",
              "auto_kind", "gen_s", "flat_build_s", "flat_rss", "mih_build_s", "mih_rss", "fflat_build_s",
              "fflat_rss", "fmh_build_s", "fmh_rss", "fmh_nhash", "fmh_b", "fmh_keys")


def run(args) -> Tuple[list, list]:
    records, builds = [], []
    print(f"# nash_index SIMD level: {ni.simd_level()}; threads: {args.nthreads}; load average: {os.getloadavg()}")
    print(f"# machine: {harness.machine_info().get('cpu')}; faiss: {getattr(faiss, '__version__', 'missing')}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    for n, dist, nbits in cases(args):
        c = build_case(n, dist, nbits, args)
        b = {key: c[key] for key in BUILD_KEYS if key in c}
        b["dist"] = DIST_LABEL[dist]
        builds.append(b)
        mb = lambda x: f"{x / 1e6:.0f} MB"  # noqa: E731
        print(f"\n## N={n:,} {DIST_LABEL[dist]} nbits={nbits}: MIH m={c['m']} substrings {c['substring_bits']}, "
              f"build {c['mih_build_s']:.2f} s, tables {mb(c['table_bytes'])} = {c['table_ratio']:.2f}x the code bytes "
              f"({mb(c['code_bytes'])}; ids {mb(c['ids_bytes'])}), RSS +{mb(c['mih_rss'])}; "
              f"FlatIndex build {c['flat_build_s']:.2f} s; make_index -> {c['auto_kind']}")
        if c["fmh"] is not None:
            print(f"#  faiss: flat build {c['fflat_build_s']:.2f} s RSS +{mb(c['fflat_rss'])}; multi-hash "
                  f"nhash={c['fmh_nhash']} b={c['fmh_b']} build {c['fmh_build_s']:.2f} s RSS +{mb(c['fmh_rss'])} "
                  f"({c['fmh_keys']:,} hash keys)")
        rows = []
        for k in args.k:
            nq_ref = max(args.batch, args.single_queries)
            ref_all = tuple(c["flat"].search(c["queries"][:nq_ref], k, num_threads=args.nthreads))
            if c["fmh"] is not None:
                faiss.omp_set_num_threads(args.nthreads)
                nflip, recall, tried = tune_nflip(c["fmh"], c["queries"][:args.batch], k, ref_all[0][:args.batch],
                                                  nbits, args)
                c.setdefault("nflip", {})[k] = (nflip, recall)
                print(f"#  faiss multi-hash k={k}: nflip -> " + ", ".join(
                    f"{x['nflip']}: recall {x['recall']:.4f} ({x['seconds'] * 1e3:.0f} ms / {args.batch} q)"
                    for x in tried))
            for mode in args.modes:
                rec = bench_config(c, k, mode, ref_all, args)
                records.append(rec)
                rows.append(row_of(rec))
        print(harness.table(rows, HEADER))
        del c
    return records, builds


HEADER = ["mode", "k", "MIH q/s", "p50", "p99", "cand", "probes", "ns/cand", "scan%", "flat q/s",
          "flat p50", "faiss q/s", "mh q/s", "nflip", "mh rec", "x flat", "x faiss", "x mh"]


def fmt_us(us: float) -> str:
    """A latency with its unit: 42.8us, 84.5ms, 1.23s."""
    if us < 1e3:
        return f"{us:.1f}us"
    return f"{us / 1e3:.1f}ms" if us < 1e6 else f"{us / 1e6:.2f}s"


def row_of(r: dict) -> list:
    f = lambda key, fmt: (fmt % r[key]) if key in r else "-"  # noqa: E731
    return [r["mode"], r["k"], f("mih_qps", "%.0f"), fmt_us(r["mih_p50_us"]), fmt_us(r["mih_p99_us"]),
            f("cand_median", "%.0f"), f("probes_median", "%.0f"), f("ns_per_cand", "%.1f"),
            "%.0f" % (100 * r["scanned_frac"]), f("flat_qps", "%.0f"), fmt_us(r["flat_p50_us"]),
            f("faiss_flat_qps", "%.0f"), f("faiss_mh_qps", "%.0f"), f("faiss_mh_nflip", "%d"),
            f("faiss_mh_recall", "%.3f"), f("x_flat", "%.2f"), f("x_faiss_flat", "%.2f"), f("x_faiss_mh", "%.2f")]


def summary(records: list) -> bool:
    """The speed-ups per configuration and the auto-choice check; returns whether the check passed."""
    print("\n## MIH speed-up (queries/s ratio; p50 latency for single queries)")
    rows = []
    for r in records:
        rows.append([r["n"], r["dist"], r["nbits"], r["k"], r["mode"], r["m"],
                     fmt_us(r["mih_p50_us"]) if r["mode"] == "single" else "-",
                     "%.2f" % r["x_flat"], "%.2f" % r["x_faiss_flat"] if "x_faiss_flat" in r else "-",
                     "%.2f" % r["x_faiss_mh"] if "x_faiss_mh" in r else "-",
                     "%.3f" % r["faiss_mh_recall"] if "faiss_mh_recall" in r else "-"])
    print(harness.table(rows, ["N", "codes", "nbits", "k", "mode", "m", "MIH p50", "vs flat", "vs faiss flat",
                               "vs faiss mh", "mh recall"]))
    ok = True
    for r in records:
        if "auto_ok" in r:
            status = "ok" if r["auto_ok"] else "FAILED"
            print(f"# auto choice (make_index -> {r['auto_kind']}) on uniform 64-bit N={r['n']:,} k={r['k']} "
                  f"{r['mode']}: {r['auto_vs_flat']:.2f}x FlatIndex's queries/s (must be >= "
                  f"{1 - AUTO_TOLERANCE:.2f}): {status}")
            ok = ok and r["auto_ok"]
    return ok


# ------------------------------------------------------------- calibrate
def calibrate(args) -> dict:
    """Fits the MihParams cost model (see the module docstring) at N = max(--n)."""
    n = max(args.n)
    nth = args.nthreads
    rows, fit_rows, labels = [], [], []
    scan_single, scan_batch = {}, {}
    print(f"# calibrating at N={n:,}; threads {nth}; SIMD {ni.simd_level()}; load average {os.getloadavg()}")
    print(f"# current defaults: {ni.MultiIndexHashing(64).fallback_params()}")
    for dist, nbits in QUICK_CASES:
        nq = args.calib_queries if DISTS[dist] is not None else max(5, args.calib_queries // 5)
        db, queries = make_data(dist, n, max(nq, args.batch), nbits, data_seed(dist, nbits))
        m_auto = ni.MultiIndexHashing.auto_m(nbits, n)
        for m in (m_auto, m_auto + 1):
            mih = ni.MultiIndexHashing(nbits, m)
            mih.add(db)
            mih.set_fallback("never")
            for k in (1, 10, 100):
                for i in range(nq):
                    best = np.inf
                    for _ in range(3):
                        t0 = time.perf_counter()
                        _, w = mih.search_with_work(queries[i : i + 1], k, num_threads=1)
                        best = min(best, time.perf_counter() - t0)
                    fit_rows.append((best, float(w.probes[0]), float(w.candidates[0])))
                    labels.append(f"{DIST_LABEL[dist]} {nbits}b m={m}")
            if m == m_auto:
                mih.set_fallback("always")
                k = 10
                ts = harness.time_each(lambda i: mih.search(queries[i : i + 1], k, num_threads=nth),
                                       count=min(args.single_queries, queries.shape[0]), budget=args.budget)
                tb = harness.time_calls(lambda: mih.search(queries[:args.batch], k, num_threads=nth),
                                        repeats=args.repeats, warmup=1, budget=args.budget)
                scan_single.setdefault(nbits, []).append(ts.median / n)
                scan_batch.setdefault(nbits, []).append(tb.median * nth / (args.batch * n))
            del mih
        print(f"#  {DIST_LABEL[dist]} {nbits} bits: {len(fit_rows)} timed walks so far")
        del db, queries

    data = np.array(fit_rows)
    t, probes, cands = data[:, 0], data[:, 1], data[:, 2]
    design = np.column_stack([np.ones_like(t), probes, cands])
    # Weighted by 1/t so that fast queries count as much as slow ones (relative error).
    wts = 1.0 / np.maximum(t, 1e-7)
    coef, *_ = np.linalg.lstsq(design * wts[:, None], t * wts, rcond=None)
    c0, t_probe, t_cand = (float(x) for x in coef)
    pred = design @ coef
    r2 = 1 - float(np.sum((t - pred) ** 2) / np.sum((t - t.mean()) ** 2))
    out = dict(n=n, threads=nth, simd=ni.simd_level(), walks=len(fit_rows), overhead_us=c0 * 1e6,
               ns_per_probe=t_probe * 1e9, ns_per_candidate=t_cand * 1e9, r2=r2)
    # How well the two-term model fits each code set (measured vs predicted median time per walk).
    lab = np.array(labels)
    check_rows = []
    for name in dict.fromkeys(labels):
        sel = lab == name
        check_rows.append([name, int(sel.sum()), "%.0f" % np.median(probes[sel]), "%.0f" % np.median(cands[sel]),
                           "%.1f" % (np.median(t[sel]) * 1e6), "%.1f" % (np.median(pred[sel]) * 1e6),
                           "%.2f" % np.median(t[sel] / pred[sel])])
    out["fit_check"] = [dict(zip(["set", "walks", "probes", "candidates", "us", "pred_us", "ratio"], r))
                        for r in check_rows]
    per_bits = {}
    for nbits in sorted(scan_single):
        ss, sb = float(np.median(scan_single[nbits])), float(np.median(scan_batch[nbits]))
        per_bits[nbits] = dict(scan_ns_per_code_single=ss * 1e9, scan_thread_ns_per_code_batch=sb * 1e9,
                               scan_cost_single=ss / t_cand, scan_cost_batch=sb / t_cand)
        rows.append([nbits, "%.3f" % (ss * 1e9), "%.3f" % (sb * 1e9), "%.4f" % (ss / t_cand), "%.4f" % (sb / t_cand)])
    out["per_nbits"] = per_bits
    ref_bits = 64 if 64 in per_bits else min(per_bits)
    out["params"] = dict(probe_cost=t_probe / t_cand, scan_cost_single=per_bits[ref_bits]["scan_cost_single"],
                         scan_cost_batch=per_bits[ref_bits]["scan_cost_batch"], from_nbits=ref_bits)
    print(f"\n## walk cost fit over {len(fit_rows)} single-threaded walks (fallback off): "
          f"time = {c0 * 1e6:.2f} us + {t_probe * 1e9:.2f} ns x probes + {t_cand * 1e9:.2f} ns x candidates "
          f"(R^2 {r2:.3f})")
    print(harness.table(check_rows, ["set", "walks", "med probes", "med cands", "med us", "pred us",
                                     "med measured/pred"]))
    print()
    print(harness.table(rows, ["nbits", "scan ns/code (1 query)", "scan thread-ns/code (batch)",
                               "scan_cost_single", "scan_cost_batch"]))
    p = out["params"]
    print(f"\n## MihParams (candidate units, {ref_bits}-bit scan costs):\n"
          f"  double probe_cost = {p['probe_cost']:.3g};\n"
          f"  double scan_cost_single = {p['scan_cost_single']:.3g};\n"
          f"  double scan_cost_batch = {p['scan_cost_batch']:.3g};")
    return out


# ------------------------------------------------------------------ main
def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default=None, help="database sizes, e.g. 200k,1M (default 1M,10M; --quick: 10M)")
    p.add_argument("--nbits", default="64,128")
    p.add_argument("--k", default=None, help="default 1,10,100 (--quick: 10)")
    p.add_argument("--dist", default=None, help="comma list of " + ",".join(DISTS) + " (default: all)")
    p.add_argument("--modes", default="single,batch", help="single (one call per query), batch (--batch queries)")
    p.add_argument("--batch", type=int, default=1000, help="queries per batch call")
    p.add_argument("--single-queries", type=int, default=200, help="queries timed one by one (p50/p99)")
    p.add_argument("--threads", default="all", help="threads for every engine: a count or 'all'")
    p.add_argument("--quick", action="store_true", help="only the issue's target configurations")
    p.add_argument("--calibrate", action="store_true", help="measure MihParams' cost-model constants instead")
    p.add_argument("--calib-queries", type=int, default=60, help="--calibrate: clustered queries per (m, k)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per measurement before stopping early")
    p.add_argument("--target-recall", type=float, default=0.99, help="faiss multi-hash: raise nflip up to this")
    p.add_argument("--max-nflip", type=int, default=8)
    p.add_argument("--faiss-nhash", type=int, default=0, help="faiss multi-hash tables (default: the MIH's m)")
    p.add_argument("--omp-active", action="store_true", help="keep OpenMP's default (active) wait policy for faiss")
    p.add_argument("--no-faiss", action="store_true")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--name", default="mih", help="output name under bench/results/")
    a = p.parse_args(argv)
    a.n = harness.parse_list(a.n or ("10M" if a.quick else "1M,10M"))
    a.nbits = harness.parse_list(a.nbits)
    a.k = harness.parse_list(a.k or ("10" if a.quick else "1,10,100"))
    a.dist_given = a.dist is not None
    a.dist = [d.strip() for d in (a.dist or ",".join(DISTS)).split(",")]
    for d in a.dist:
        if d not in DISTS:
            p.error(f"unknown --dist {d!r}; choose from {', '.join(DISTS)}")
    a.modes = [m.strip() for m in a.modes.split(",")]
    if any(m not in ("single", "batch") for m in a.modes):
        p.error("--modes takes single and/or batch")
    a.nthreads = ni.get_num_threads() if a.threads == "all" else int(a.threads)
    meta_base = dict(machine=harness.machine_info(), simd=ni.simd_level(), argv=sys.argv[1:] if argv is None else argv,
                     threads=a.nthreads, omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
                     faiss=getattr(faiss, "__version__", None))
    t0 = time.time()
    if a.calibrate:
        cal = calibrate(a)
        meta = dict(meta_base, seconds=time.time() - t0, peak_rss_mb=harness.peak_rss_bytes() / 1e6)
        path = harness.save_json(f"{a.name}_calibration", dict(meta=meta, calibration=cal))
        print(f"\n# wrote {path}; load average now {os.getloadavg()}")
        return
    records, builds = run(a)
    ok = summary(records)
    meta = dict(meta_base, seconds=time.time() - t0, peak_rss_mb=harness.peak_rss_bytes() / 1e6, auto_check_ok=ok)
    path = harness.save_json(a.name, dict(meta=meta, builds=builds, records=records))
    png = None
    if records and not a.no_plot:
        engines = [("MIH", "mih_qps"), ("FlatIndex", "flat_qps"), ("faiss flat", "faiss_flat_qps"),
                   ("faiss multi-hash", "faiss_mh_qps")]
        cfg = lambda r: f"{r['n'] / 1e6:g}M {r['dist']} {r['nbits']}b k{r['k']} {r['mode']}"  # noqa: E731
        long = [dict(config=cfg(r), engine=e, qps=r[key]) for r in records for e, key in engines if key in r]
        png = harness.plot_bars(a.name, long, ["config"], "qps", "engine",
                                title=f"exact Hamming k-NN, queries/s ({a.nthreads} threads; MIH = MultiIndexHashing)")
    print(f"\n# wrote {path}" + (f" and {png}" if png else "") + f"; {time.time() - t0:.0f} s; peak RSS "
          f"{meta['peak_rss_mb']:.0f} MB; load average now {os.getloadavg()}")
    if not ok:
        raise SystemExit(2)


if __name__ == "__main__":
    main()
