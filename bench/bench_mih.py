"""MultiIndexHashing vs FlatIndex vs faiss IndexBinaryFlat / IndexBinaryMultiHash (exact Hamming k-NN).

    python bench/bench_mih.py                     # full sweep: N 1M,10M x nbits 64,128 x k 1,10,100
                                                  #   x single/batch x uniform, clustered (50, 1/8), (200, 0.08)
    python bench/bench_mih.py --quick             # the issue's target code sets at N = 1M (under 2 minutes)
    python bench/bench_mih.py --quick --n 10M     # the same at 10M codes
    python bench/bench_mih.py --codes learned     # NASH codes of Reuters, replicated to 1M (see mih_tools)
    python bench/bench_mih.py --calibrate         # the cost-model constants of MihParams (mih_search.cpp)

Codes: "uniform", or "clustered (c, p)": c random centres, every bit of a code
flipped with probability p. Queries are fresh draws from the same distribution
(not members of the database).

For every configuration (N, codes, nbits, k, single query or a batch of 1000)
it prints, for the MIH: queries/s, p50/p99 latency per query (single: one call per
query; batch: the call's time / batch size, harness.Timing's definition); from its work counters
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

--codes learned: instead of synthetic sets, NASH-DN codes learned from Reuters (trained --epochs
epochs with one torch thread, cached in --out): the 7,107 train-split codes once, then random ones of
them with every bit flipped with probability 0.02 up to N (near-duplicates of real documents), and
the test-split documents' codes as queries.

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

Writes mih.json and mih.png (--calibrate: mih_calibration.json) to --out (default bench/out/; the
tracked bench/results/ only when passed).
The code sets, recall, checks and calibration live in mih_tools.py. Removals (their cost, and
search latency while they and the compaction run): bench/bench_mih_remove.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

faiss = harness.import_faiss()  # first: sets faiss's OpenMP wait policy before any OpenMP runtime starts

import mih_tools  # noqa: E402
import nash_index as ni  # noqa: E402
from mih_tools import DIST_LABEL, DISTS, LEARNED, QUICK_CASES, calibrate, check_equal, data_seed, fmt_us, make_data, tune_nflip  # noqa: E402

AUTO_TOLERANCE = 0.10  # make_index's choice may be at most 10% slower than FlatIndex on uniform codes


# ----------------------------------------------------------------- sweep
def cases(args) -> List[Tuple[int, str, int]]:
    if args.codes == "learned":
        return [(n, LEARNED, b) for n in args.n for b in args.nbits]
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

    c["flat"], c["flat_build_s"], c["flat_rss"] = harness.timed_add(ni.FlatIndex(nbits), db)
    mih, c["mih_build_s"], c["mih_rss"] = harness.timed_add(ni.MultiIndexHashing(nbits), db)
    c["mih"] = mih
    if mih.indexed != n:
        raise SystemExit(f"MultiIndexHashing indexed {mih.indexed} of {n} codes after add")
    c.update(m=mih.m, substring_bits=mih.substring_bits, table_bytes=mih.table_bytes,
             table_ratio=mih.table_bytes / (n * cs))
    c["auto_kind"] = type(ni.make_index(nbits, n_expected=n)).__name__

    c["fflat"] = c["fmh"] = None
    if faiss is not None and not args.no_faiss:
        faiss.omp_set_num_threads(args.nthreads)
        c["fflat"], c["fflat_build_s"], c["fflat_rss"] = harness.timed_add(faiss.IndexBinaryFlat(nbits), db)
        nhash = args.faiss_nhash or mih.m
        b = nbits // nhash
        fmh, c["fmh_build_s"], c["fmh_rss"] = harness.timed_add(faiss.IndexBinaryMultiHash(nbits, nhash, b), db)
        c.update(fmh=fmh, fmh_nhash=nhash, fmh_b=b, fmh_keys=int(fmh.hashtable_size()))
    del c["db"], db  # every index holds its own copy
    return c


def bench_config(c: dict, k: int, mode: str, ref_all, args) -> dict:
    """One (k, mode) of a code set: every engine timed, the MIH checked against FlatIndex."""
    nbits, n = c["nbits"], c["n"]
    single = mode == "single"
    nq = args.single_queries if single else args.batch
    q = c["queries"][:nq]
    ref = (ref_all[0][:nq], ref_all[1][:nq])
    flat, mih, nth = c["flat"], c["mih"], args.nthreads
    where = f"N={n} {DIST_LABEL[c['dist']]} nbits={nbits} k={k} {mode}"
    rec = dict(n=n, dist=DIST_LABEL[c["dist"]], nbits=nbits, k=k, mode=mode, nq=nq, threads=nth, m=c["m"])

    # Correctness and work counters (untimed): the path the timed calls take.
    if single:
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

    t = harness.time_search(lambda x: mih.search(x, k, num_threads=nth), q, single, args.repeats, args.budget)
    rec.update(us_stats("mih", t), mih_calls=len(t.times))
    # Time over candidates verified (probes and call overhead included). Single: median over the timed
    # calls of the queries answered from the tables (times[i] is query i; the median resists load
    # spikes); batch: thread time of the whole batch.
    if single:
        timed = walked[: len(t.times)] & (cands[: len(t.times)] > 0)
        if timed.any():
            per = np.asarray(t.times)[timed] / cands[: len(t.times)][timed]
            rec["ns_per_cand"] = float(np.median(per) * 1e9)
    elif scanned.mean() <= 0.05 and cands.sum() > 0:
        rec["ns_per_cand"] = float(t.median * nth * 1e9 / cands.sum())

    t = harness.time_search(lambda x: flat.search(x, k, num_threads=nth), q, single, args.repeats, args.budget)
    rec.update(us_stats("flat", t))
    rec["x_flat"] = rec["mih_qps"] / rec["flat_qps"]

    if c["fflat"] is not None:
        faiss.omp_set_num_threads(nth)
        fd, _ = c["fflat"].search(q, k)
        if not np.array_equal(fd.astype(np.int64), ref[0].astype(np.int64)):
            raise SystemExit(f"faiss IndexBinaryFlat distances differ from FlatIndex at {where}")
        t = harness.time_search(lambda x: c["fflat"].search(x, k), q, single, args.repeats, args.budget, warmup=0)
        rec.update(us_stats("faiss_flat", t), x_faiss_flat=rec["mih_qps"] / t.qps)
    if c["fmh"] is not None:
        fmh = c["fmh"]
        nflip, recall = c["nflip"][k]
        fmh.nflip = nflip
        t = harness.time_search(lambda x: fmh.search(x, k), q, single, args.repeats, args.budget, warmup=0)
        rec.update(us_stats("faiss_mh", t), faiss_mh_nflip=nflip, faiss_mh_recall=recall, faiss_mh_nhash=c["fmh_nhash"],
                   faiss_mh_b=c["fmh_b"], x_faiss_mh=rec["mih_qps"] / t.qps)

    # What make_index picked for this N, labelled like an index row: "auto (mih)" or "auto (flat)".
    rec["auto"] = auto_label(c["auto_kind"])
    if c["dist"] == "uniform" and nbits == 64:
        # make_index's choice for this N: a MultiIndexHashing (the same as `mih`) or a FlatIndex.
        auto_qps = rec["mih_qps"] if c["auto_kind"] == "MultiIndexHashing" else rec["flat_qps"]
        ratio = auto_qps / rec["flat_qps"]
        if ratio < 1 - AUTO_TOLERANCE and c["auto_kind"] == "MultiIndexHashing":
            # Measure both once more before calling it: the machine may be shared.
            t_f = harness.time_search(lambda x: flat.search(x, k, num_threads=nth), q, single, args.repeats, args.budget)
            t_m = harness.time_search(lambda x: mih.search(x, k, num_threads=nth), q, single, args.repeats, args.budget)
            ratio = max(ratio, t_f.median / t_m.median)
        rec.update(auto_kind=c["auto_kind"], auto_vs_flat=ratio, auto_ok=bool(ratio >= 1 - AUTO_TOLERANCE))
    return rec


def us_stats(engine: str, t: harness.Timing) -> dict:
    """``<engine>_qps``, ``<engine>_p50_us``, ``<engine>_p99_us`` (per query, harness.Timing)."""
    return {f"{engine}_{key}": v for key, v in t.stats(unit=1e6, suffix="us").items()}


def auto_label(kind: str) -> str:
    return f"auto ({'mih' if kind == 'MultiIndexHashing' else 'flat'})"


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


HEADER = ["mode", "k", "MIH q/s", "p50/q", "p99/q", "cand", "probes", "ns/cand", "scan%", "flat q/s",
          "flat p50/q", "faiss q/s", "mh q/s", "nflip", "mh rec", "x flat", "x faiss", "x mh"]


def row_of(r: dict) -> list:
    f = lambda key, fmt: harness.cell(r, key, fmt)  # noqa: E731
    return [r["mode"], r["k"], f("mih_qps", "%.0f"), fmt_us(r["mih_p50_us"]), fmt_us(r["mih_p99_us"]),
            f("cand_median", "%.0f"), f("probes_median", "%.0f"), f("ns_per_cand", "%.1f"),
            "%.0f" % (100 * r["scanned_frac"]), f("flat_qps", "%.0f"), fmt_us(r["flat_p50_us"]),
            f("faiss_flat_qps", "%.0f"), f("faiss_mh_qps", "%.0f"), f("faiss_mh_nflip", "%d"),
            f("faiss_mh_recall", "%.3f"), f("x_flat", "%.2f"), f("x_faiss_flat", "%.2f"), f("x_faiss_mh", "%.2f")]


def summary(records: list) -> bool:
    """The speed-ups per configuration and the auto-choice check; returns whether the check passed."""
    print("\n## MIH speed-up (queries/s ratio; p50 latency per query: batch = call time / batch size)")
    rows = []
    for r in records:
        rows.append([r["n"], r["dist"], r["nbits"], r["k"], r["mode"], r["m"],
                     fmt_us(r["mih_p50_us"]), r["auto"],
                     "%.2f" % r["x_flat"], "%.2f" % r["x_faiss_flat"] if "x_faiss_flat" in r else "-",
                     "%.2f" % r["x_faiss_mh"] if "x_faiss_mh" in r else "-",
                     "%.3f" % r["faiss_mh_recall"] if "faiss_mh_recall" in r else "-"])
    print(harness.table(rows, ["N", "codes", "nbits", "k", "mode", "m", "MIH p50/q", "make_index", "vs flat", "vs faiss flat",
                               "vs faiss mh", "mh recall"]))
    ok = True
    for r in records:
        if "auto_ok" in r:
            status = "ok" if r["auto_ok"] else "FAILED"
            print(f"# auto choice {r['auto']} (make_index -> {r['auto_kind']}) on uniform 64-bit N={r['n']:,} k={r['k']} "
                  f"{r['mode']}: {r['auto_vs_flat']:.2f}x FlatIndex's queries/s (must be >= "
                  f"{1 - AUTO_TOLERANCE:.2f}): {status}")
            ok = ok and r["auto_ok"]
    return ok


# ------------------------------------------------------------------ main
def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default=None, help="database sizes, e.g. 200k,1M (default 1M,10M; --quick, learned: 1M)")
    p.add_argument("--nbits", default=None, help="default 64,128 (learned codes: 32,64)")
    p.add_argument("--codes", choices=["synthetic", "learned"], default="synthetic",
                   help="learned: NASH-DN codes of Reuters (train split, replicated with 2%% bit flips to N; "
                        "test split as queries) instead of the synthetic code sets")
    p.add_argument("--epochs", type=int, default=5, help="learned codes: NASH training epochs (one torch thread)")
    p.add_argument("--data", type=Path, default=None, help="learned codes: folder of the Reuters archive")
    p.add_argument("--k", default=None, help="default 1,10,100 (--quick, learned: 10)")
    p.add_argument("--dist", default=None, help="comma list of " + ",".join(DISTS) + " (default: all)")
    p.add_argument("--modes", default="single,batch", help="single (one call per query), batch (--batch queries)")
    p.add_argument("--batch", type=int, default=1000, help="queries per batch call")
    p.add_argument("--single-queries", type=int, help="queries timed one by one (p50/p99; default 200, --quick 100)")
    p.add_argument("--threads", default="all", help="threads for every engine: a count or 'all'")
    p.add_argument("--quick", action="store_true", help="the issue's target code sets at N = 1M, 100 single queries, "
                   "2 s per measurement (under 2 minutes)")
    p.add_argument("--calibrate", action="store_true", help="measure MihParams' cost-model constants instead")
    p.add_argument("--calib-queries", type=int, default=60, help="--calibrate: clustered queries per (m, k)")
    p.add_argument("--target-recall", type=float, default=0.99, help="faiss multi-hash: raise nflip up to this")
    p.add_argument("--max-nflip", type=int, default=8)
    p.add_argument("--faiss-nhash", type=int, default=0, help="faiss multi-hash tables (default: the MIH's m)")
    p.add_argument("--no-plot", action="store_true")
    harness.add_speed_args(p, name="mih")
    p.set_defaults(single_queries=None, budget=None)
    a = p.parse_args(argv)
    learned = a.codes == "learned"
    a.n = harness.parse_list(a.n or ("1M" if a.quick or learned else "1M,10M"))
    a.nbits = harness.parse_list(a.nbits or ("32,64" if learned else "64,128"))
    a.single_queries = a.single_queries or (100 if a.quick else 200)
    a.budget = a.budget or (2.0 if a.quick else 20.0)
    data_dir = a.data or harness.default_data_dir()
    mih_tools.LEARNED_SOURCE = lambda nbits: mih_tools.learned_codes(nbits, a.epochs, data_dir, a.out)
    a.k = harness.parse_list(a.k or ("10" if a.quick or learned else "1,10,100"))
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
        path = harness.save_json(f"{a.name}_calibration", out=a.out, payload=dict(meta=meta, calibration=cal))
        print(f"\n# wrote {path}; load average now {os.getloadavg()}")
        return
    records, builds = run(a)
    ok = summary(records)
    meta = dict(meta_base, seconds=time.time() - t0, peak_rss_mb=harness.peak_rss_bytes() / 1e6, auto_check_ok=ok)
    path = harness.save_json(a.name, out=a.out, payload=dict(meta=meta, builds=builds, records=records))
    png = None
    if records and not a.no_plot:
        engines = [("MIH", "mih_qps"), ("FlatIndex", "flat_qps"), ("faiss flat", "faiss_flat_qps"),
                   ("faiss multi-hash", "faiss_mh_qps")]
        cfg = lambda r: f"{r['n'] / 1e6:g}M {r['dist']} {r['nbits']}b k{r['k']} {r['mode']}"  # noqa: E731
        long = [dict(config=cfg(r), engine=e, qps=r[key]) for r in records for e, key in engines if key in r]
        png = harness.plot_bars(a.name, long, ["config"], "qps", "engine", out=a.out, xlabel="queries / second (log)",
                                title=f"exact Hamming k-NN ({a.nthreads} threads; MIH = MultiIndexHashing)")
    print(f"\n# wrote {path}" + (f" and {png}" if png else "") + f"; {time.time() - t0:.0f} s; peak RSS "
          f"{meta['peak_rss_mb']:.0f} MB; load average now {os.getloadavg()}")
    if not ok:
        raise SystemExit(2)


if __name__ == "__main__":
    main()
