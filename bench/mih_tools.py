"""Measuring and calibration helpers of bench_mih.py (multi-index hashing).

The code sets (DISTS: uniform, or clustered around c random centres with every bit
flipped with probability p; drawn by ``nash_index.index.synthetic``), the tie-aware
recall of faiss multi-hash and its nflip tuning, the exact check of MIH results
against FlatIndex, and ``--calibrate``: the fit of the MihParams cost model
(see bench_mih.py's docstring).
"""
from __future__ import annotations

import os
import time
from typing import Dict, Optional, Tuple

import numpy as np

import harness
import nash_index as ni
from nash_index.index.synthetic import clustered_codes, uniform_codes

# name -> (centres, flip probability); None: uniform codes
DISTS: Dict[str, Optional[Tuple[int, float]]] = {
    "uniform": None,
    "c50": (50, 1 / 8),
    "c200": (200, 0.08),
}
DIST_LABEL = {"uniform": "uniform", "c50": "clustered(50,1/8)", "c200": "clustered(200,0.08)"}
# The target configurations: (codes, nbits); k = 10, single query and a batch of 1000.
QUICK_CASES = [("c50", 64), ("c200", 64), ("c50", 128), ("uniform", 64)]


# Learned codes (--codes learned): NASH trained on Reuters, its train-split codes replicated with bit flips.
LEARNED = "nash-reuters"
DIST_LABEL[LEARNED] = "NASH Reuters"
LEARNED_FLIP = 0.02  # bits flipped per copy: copies stay near their document, as near-duplicates would


def learned_codes(nbits: int, epochs: int, data_dir=None, cache_dir=None) -> Tuple[np.ndarray, np.ndarray]:
    """(train-split codes, test-split codes) of NASH-DN trained ``epochs`` epochs on Reuters with one
    torch thread (more oversubscribes a shared machine); cached in ``cache_dir`` by nbits and epochs."""
    cache = None if cache_dir is None else cache_dir / f"learned-reuters-{nbits}b-{epochs}ep.npz"
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            return z["db"], z["queries"]
    import torch

    from nash_index import NASH
    from nash_index.datasets import load_corpus

    corpus = load_corpus("reuters", data_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        model = NASH(nbits=nbits, epochs=epochs, seed=0, device="cpu", verbose=False).fit(corpus.X_train)
        db, queries = model.encode(corpus.X_train), model.encode(corpus.X_test)
    finally:
        torch.set_num_threads(threads)
    print(f"#  NASH-DN {nbits} bits, {epochs} epochs on Reuters ({corpus.X_train.shape[0]:,} train documents, "
          f"1 torch thread): {time.perf_counter() - t0:.0f} s")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, db=db, queries=queries)
    return db, queries


def replicate(codes: np.ndarray, n: int, nbits: int, seed: int) -> np.ndarray:
    """``n`` codes: ``codes`` once, then random ones of them with every bit flipped with LEARNED_FLIP."""
    if n <= codes.shape[0]:
        return np.ascontiguousarray(codes[:n])
    extra = clustered_codes(n - codes.shape[0], nbits, centres=codes, flip=LEARNED_FLIP, seed=seed)
    return np.concatenate([codes, extra])


# ------------------------------------------------------------------ data
def make_data(dist: str, n: int, nq: int, nbits: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """n database codes and nq queries, independent draws from the same distribution
    (learned codes: the replicated train split, and test-split documents as queries)."""
    if dist == LEARNED:
        db, queries = LEARNED_SOURCE(nbits)
        reps = -(-nq // queries.shape[0])  # a batch larger than the test split repeats its queries
        return replicate(db, n, nbits, seed), np.ascontiguousarray(np.tile(queries, (reps, 1))[:nq])
    spec = DISTS[dist]
    if spec is None:
        allc = uniform_codes(n + nq, nbits, seed=seed)
    else:
        allc = clustered_codes(n + nq, nbits, centres=spec[0], flip=spec[1], seed=seed)
    # Rows are i.i.d., so the last nq are queries that are not database members.
    return np.ascontiguousarray(allc[:n]), np.ascontiguousarray(allc[n:])


def data_seed(dist: str, nbits: int) -> int:
    return 1000 * (list(DISTS).index(dist) if dist in DISTS else len(DISTS)) + nbits


# Where make_data gets learned codes: set by bench_mih.py from its options (tests put small arrays here).
LEARNED_SOURCE = lambda nbits: learned_codes(nbits, epochs=5)  # noqa: E731


def fmt_us(us: Optional[float]) -> str:
    """A latency with its unit: 42.8us, 84.5ms, 1.23s ("-" for None: too few samples for a p99)."""
    if us is None:
        return "-"
    if us < 1e3:
        return f"{us:.1f}us"
    return f"{us / 1e3:.1f}ms" if us < 1e6 else f"{us / 1e6:.2f}s"


# ------------------------------------------------------------- checking
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


def time_fallback_scan(mih: ni.MultiIndexHashing, queries: np.ndarray, k: int, nth: int, args) -> Tuple[float, float]:
    """Median seconds of the flat scan the fallback would use (all of the index's codes): one query per
    call, and a call over a batch of --batch queries. Leaves the index's fallback at "always"."""
    mih.set_fallback("always")
    search = lambda x: mih.search(x, k, num_threads=nth)  # noqa: E731
    ts = harness.time_search(search, queries[: min(args.single_queries, queries.shape[0])], True, args.repeats,
                             args.budget)
    tb = harness.time_search(search, queries[: args.batch], False, args.repeats, args.budget)
    return ts.median, tb.median


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
                single_s, batch_s = time_fallback_scan(mih, queries, k=10, nth=nth, args=args)
                scan_single.setdefault(nbits, []).append(single_s / n)
                scan_batch.setdefault(nbits, []).append(batch_s * nth / (args.batch * n))
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
