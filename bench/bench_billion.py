"""Multi-index hashing at 10^8-10^9 codes on one machine (issue #13): built from disk, served by mmap.

    python bench/bench_billion.py                                  # 10^8, 5x10^8, 10^9; 64 bits; the issue's sets
    python bench/bench_billion.py --n 1e8 --dists c100000-p0.10    # one cell
    python bench/bench_billion.py --n 1e7 --dists c1000-p0.15 --quick   # a minute: the pipeline end to end

For every code set (bench/codes_on_disk.py: the largest N is generated once to --data, smaller N
are its prefixes) and N, in this order:

1. ``build_mih_file`` builds the index file from the .npy in a child process: wall time and the
   child's peak RSS (its own VmHWM: the pages of the file it maps count).
2. The file is read once (warm page cache; time reported), then loaded with ``mmap=True,
   populate=True`` (every page mapped up front, so no page faults while timing; time reported).
3. FlatIndex on the same codes = the MIH with ``set_fallback("always")``: the same blocked SIMD scan
   FlatIndex.search runs (``scan_knn``), over the same mapped codes, so no 8 GB copy is needed.
4. Single queries (fresh draws of the distribution): MIH p50 / p99 for k = 1, 10, 100, and the
   flat scan on the first --flat-queries of them; every answer of the flat sample is compared
   with the MIH's (single and batch paths; distances and ids, exactly; a difference aborts).
   Batch: one call of --batch queries at k = 10 on each, queries/s.
5. Memory: codes + tables (+ ids: none, ids are positions) over the code bytes; the file size.
6. With ``--dedup``: the same codes built again as an index that stores identical codes once
   (``build_mih_file(..., dedup=True)``: a MihDedupIndex, in a child process: time, peak RSS),
   loaded the same way and timed on the same queries against the flat scan measured in step 3
   (same process, same run); every answer is compared with the MIH's (all queries, single and
   batch), which step 4 checked against the flat scan. Memory: its file bytes over the MIH's.

    python bench/bench_billion.py --n 1e7,1e8 --dists nash-reuters --dedup --name dedup

Results: JSON + PNG (p50 latency vs N, log scales, flat and MIH at k = 10, one line per set) in --out.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

import billion_tail
import codes_on_disk as cod
import dedup_bench
import harness
import nash_index as ni  # noqa: E402  (after harness: no OpenMP here, faiss is not used)

DEFAULT_DISTS = "c100000-p0.10,c1000-p0.15,c50-p0.125,uniform,nash-reuters"


def build_in_child(src: Path, n: int, out: Path, m: int, max_key_bits: int, dedup: bool = False) -> Dict[str, float]:
    """Runs build_mih_file on the first n codes in a fresh process: seconds and peak RSS."""
    chunk = 1 << 24 if dedup else 1 << 20  # a dedup build rewrites its id lists per chunk
    # The first n codes are read in chunks (a memory map of the source would count in the RSS).
    # Peak RSS is VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork + exec from this
    # (large, mapped) parent process.
    code = ("import itertools,json,sys,time,nash_index as ni;"
            "from nash_index.index.build import _file_chunks;"
            "src,n,out,m,kb,dd,ch=sys.argv[1],int(sys.argv[2]),sys.argv[3],int(sys.argv[4]),int(sys.argv[5]),"
            "bool(int(sys.argv[6])),int(sys.argv[7]);"
            "chunks,nbits=_file_chunks(__import__('pathlib').Path(src),None,ch);"
            "head=itertools.islice(chunks,-(-n//ch));"
            "rows=(c[:n-i*ch] for i,c in enumerate(head));t=time.perf_counter();"
            "ni.build_mih_file(rows,out,nbits=nbits,m=m or None,max_key_bits=kb or None,progress=False,dedup=dd);"
            "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
            "print(json.dumps({'build_s':time.perf_counter()-t,'build_peak_rss':int(hwm)*1024}))")
    done = subprocess.run([sys.executable, "-c", code, str(src), str(n), str(out), str(m), str(max_key_bits),
                           str(int(dedup)), str(chunk)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def single_latencies(index: Any, queries: np.ndarray, k: int, budget: float) -> harness.Timing:
    return harness.time_each(lambda i: index.search(queries[i:i + 1], k), count=len(queries), warmup=2, budget=budget)


def measure(path: Path, queries: np.ndarray, args: Any, dedup_path: Optional[Path] = None) -> Dict[str, Any]:
    rec: Dict[str, Any] = {"file_bytes": path.stat().st_size, "warm_s": harness.warm_file(path)}
    t0 = time.perf_counter()
    mih = ni.load(path, mmap=True, verify=False, populate=True)  # every page mapped: no faults while timing
    rec["load_s"] = time.perf_counter() - t0
    n, cs = mih.ntotal, mih.code_size
    rec.update(m=mih.m, substring_bits=mih.substring_bits, table_bytes=mih.table_bytes,
               memory_ratio=(n * cs + mih.table_bytes) / (n * cs))
    nf = args.flat_queries
    for k in args.k:
        mih.set_fallback("always")
        flat_t = single_latencies(mih, queries[:nf], k, budget=args.budget)
        flat = mih.search(queries[:nf], k)
        mih.set_fallback("auto")
        got = mih.search(queries[:nf], k)
        for q in range(nf):  # one call per query: the single-query path
            one = mih.search(queries[q:q + 1], k)
            if not (np.array_equal(one.distances[0], flat.distances[q]) and np.array_equal(one.ids[0], flat.ids[q])):
                raise SystemExit(f"MIH differs from the flat scan: {path.name} k={k} query {q}")
        if not (np.array_equal(got.distances, flat.distances) and np.array_equal(got.ids, flat.ids)):
            raise SystemExit(f"MIH batch differs from the flat scan: {path.name} k={k}")
        mih_t = single_latencies(mih, queries, k, budget=args.budget)
        work = mih.search_with_work(queries[:50], k)[1]
        rec[f"k{k}"] = {
            "flat_p50_ms": flat_t.p50 * 1e3, "mih_p50_ms": mih_t.p50 * 1e3,
            "flat_mean_ms": float(np.mean(flat_t.times)) * 1e3, "mih_mean_ms": float(np.mean(mih_t.times)) * 1e3,
            "mih_p99_ms": None if mih_t.p99 is None else mih_t.p99 * 1e3,
            "speedup_p50": flat_t.p50 / mih_t.p50, "flat_calls": len(flat_t.times), "mih_calls": len(mih_t.times),
            "kth_distance_median": float(np.median(flat.distances[:, -1])),
            "candidates_median": float(np.median(work.candidates)), "probes_median": float(np.median(work.probes)),
            "scanned_frac": float(np.mean(work.scanned)), "checked_queries": nf,
        }
    batch = queries[:args.batch]
    mih_b = harness.time_calls(lambda: mih.search(batch, 10), repeats=3, warmup=1, budget=args.budget)
    mih.set_fallback("always")
    flat_b = harness.time_calls(lambda: mih.search(batch, 10), repeats=2, warmup=0, budget=args.budget)
    mih.set_fallback("auto")
    rec["batch"] = {"mih_qps": len(batch) / mih_b.median, "flat_qps": len(batch) / flat_b.median, "size": len(batch)}
    rec["batch"]["speedup"] = rec["batch"]["mih_qps"] / rec["batch"]["flat_qps"]
    rec["rss_after_queries"] = harness.rss_bytes()
    if dedup_path is not None:
        rec["dedup"] = dedup_bench.measure_dedup(dedup_path, mih, queries, rec, args)
    return rec  # the index (its mapping) goes with this frame


def learned_base(nbits: int, args: Any):
    import mih_tools  # trains NASH on Reuters once (cached in --data)

    return mih_tools.learned_codes(nbits, epochs=args.epochs, data_dir=harness.default_data_dir(), cache_dir=args.data)


def run_set(dist: str, nbits: int, sizes: List[int], args: Any) -> List[Dict[str, Any]]:
    base = qcodes = None
    if dist == "nash-reuters":
        base, qcodes = learned_base(nbits, args)
    src = args.data / f"codes-{dist}-{nbits}b-{max(sizes)}.npy"
    t0 = time.perf_counter()
    cod.write_codes(src, max(sizes), nbits, dist, seed=args.seed, base_codes=base)
    print(f"# {dist} {nbits}-bit: {max(sizes):,} codes in {src} ({time.perf_counter() - t0:.0f} s)", flush=True)
    queries = cod.queries_of(dist, args.queries, nbits, args.seed, base, qcodes)
    out = []
    for n in sorted(sizes):
        path = args.data / f"index-{dist}-{nbits}b-{n}.nidx"
        rec: Dict[str, Any] = {"dist": dist, "nbits": nbits, "n": n, "flip_effective": cod.effective_flip(cod.parse_dist(dist)[1])}
        rec["max_key_bits"] = args.max_key_bits or None
        rec.update(build_in_child(src, n, path, args.m, args.max_key_bits))
        dedup_path = None
        if args.dedup:
            dedup_path = args.data / f"dedup-{dist}-{nbits}b-{n}.nidx"
            built = build_in_child(src, n, dedup_path, args.m, args.max_key_bits, dedup=True)
            rec["dedup_build"] = built
        rec.update(measure(path, queries, args, dedup_path))
        if args.tail_queries:
            tail = billion_tail.tail_queries(dist, args.tail_queries, nbits, args.seed, base, qcodes)
            rec["tail"] = billion_tail.measure(path, tail, args.tail_load)
        print(report_line(rec), flush=True)
        out.append(rec)
        _ALL.append(rec)
        save(args, _ALL)
        if not args.keep:
            path.unlink()
            if dedup_path is not None:
                dedup_path.unlink()
    if not args.keep:
        src.unlink()
    return out


_ALL: List[Dict[str, Any]] = []  # every record so far, saved after each one


def save(args: Any, records: List[Dict[str, Any]]) -> None:
    payload = {"meta": {**harness.machine_info(), "argv": sys.argv[1:], "mem_total_bytes": os.sysconf("SC_PAGE_SIZE")
                        * os.sysconf("SC_PHYS_PAGES")}, "records": records}
    harness.save_json(args.name, payload, args.out)
    (args.out / f"{args.name}.md").write_text(markdown(records, payload["meta"]), encoding="utf-8")


def report_line(r: Dict[str, Any]) -> str:
    key_bits = r.get("max_key_bits") or "all"
    parts = [f"{r['dist']:>15} {r['nbits']}b N={r['n']:.0e} m={r['m']} key bits {key_bits} build {r['build_s']:.0f} s "
             f"peak RSS {r['build_peak_rss'] / 2**30:.1f} GiB (file {r['file_bytes'] / 2**30:.1f} GiB) "
             f"memory {r['memory_ratio']:.2f}x codes"]
    for k in (1, 10, 100):
        c = r.get(f"k{k}")
        if c:
            parts.append(f"k={k}: MIH {c['mih_p50_ms']:.2f} ms (p99 {c['mih_p99_ms'] or float('nan'):.2f}) vs flat "
                         f"{c['flat_p50_ms']:.1f} ms = {c['speedup_p50']:.1f}x [kth d {c['kth_distance_median']:.0f}, "
                         f"cand {c['candidates_median']:.0f}]")
    b = r["batch"]
    parts.append(f"batch: MIH {b['mih_qps']:.0f} q/s vs flat {b['flat_qps']:.1f} q/s = {b['speedup']:.2f}x")
    if "tail" in r:
        parts.append(billion_tail.report_line(r["tail"]))
    if "dedup" in r:
        parts.append(dedup_bench.report_line(r))
    return "\n    ".join(parts)


def markdown(records: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
    """The results as a Markdown table (one row per code set and N)."""
    lines = [f"# Multi-index hashing at 10^8-10^9 codes ({meta.get('cpu', '')}, {os.cpu_count()} cores, "
             f"{meta['mem_total_bytes'] / 2**30:.0f} GiB)", "",
             "Single queries, p50 latency (flat scan = FlatIndex's scan over the same mapped codes), speed-up = "
             "flat p50 / MIH p50; memory = (codes + tables) / code bytes (ids are positions); build = "
             "`build_mih_file` from the .npy in a child process (peak RSS = its VmHWM). Command: "
             f"`python bench/bench_billion.py {' '.join(meta.get('argv', []))}`.", "",
             "| codes | N | m | build | build peak RSS / file | memory | k=1 MIH / flat | k=10 MIH / flat | "
             "k=100 MIH / flat | batch, k=10 (q/s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        cells = []
        for k in (1, 10, 100):
            c = r.get(f"k{k}")
            x = "-" if not c else f"{c['speedup_p50']:.{0 if c['speedup_p50'] >= 10 else 2}f}x"
            cells.append("-" if not c else f"{c['mih_p50_ms']:.2f} / {c['flat_p50_ms']:.0f} ms = **{x}**")
        b = r["batch"]
        key = f" (max_key_bits {r['max_key_bits']})" if r.get("max_key_bits") else ""
        peak = "n/a" if r.get("build_peak_rss") is None else f"{r['build_peak_rss'] / 2**30:.1f}"
        lines.append(f"| {r['dist']}, {r['nbits']}-bit{key} | {r['n']:.0e} | {r['m']} | {r['build_s']:.0f} s | "
                     f"{peak} / {r['file_bytes'] / 2**30:.1f} GiB | {r['memory_ratio']:.2f}x | "
                     + " | ".join(cells) + f" | {b.get('size', '')} q: {b['mih_qps']:.0f} vs {b['flat_qps']:.1f} = {b['speedup']:.2f}x |")
    tail = billion_tail.markdown(records)
    if tail:
        lines += ["", *tail]
    if any("dedup" in r for r in records):
        lines += ["", *dedup_bench.markdown(records, meta)]
    return "\n".join(lines) + "\n"


def plot(args: Any, records: List[Dict[str, Any]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    records = [r for r in records if r["nbits"] == 64 and not r.get("max_key_bits")]  # the default 64-bit index
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for dist in dict.fromkeys(r["dist"] for r in records):
        rows = sorted((r for r in records if r["dist"] == dist and "k10" in r), key=lambda r: r["n"])
        ns = [r["n"] for r in rows]
        line, = ax.plot(ns, [r["k10"]["mih_p50_ms"] for r in rows], "o-", label=f"MIH, {dist}")
        ax.plot(ns, [r["k10"]["flat_p50_ms"] for r in rows], "x--", color=line.get_color(), alpha=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ns = sorted({r["n"] for r in records})
    ax.set_xticks(ns)
    ax.set_xticklabels([f"{n:.0e}".replace("e+0", "e") for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("codes in the index (64-bit)")
    ax.set_ylabel("p50 latency per query, k = 10 (ms)")
    ax.set_title("Exact 10-NN on 2 cores: multi-index hashing (solid) vs flat scan (dashed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / f"{args.name}.png", dpi=120)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=lambda s: harness.parse_list(s, lambda x: int(float(x))), default=[10**8, 5 * 10**8, 10**9])
    p.add_argument("--dists", type=lambda s: s.split(","), default=DEFAULT_DISTS.split(","))
    p.add_argument("--nbits", type=harness.parse_list, default=[64])
    p.add_argument("--k", type=harness.parse_list, default=[1, 10, 100])
    p.add_argument("--m", type=int, default=0, help="tables (0: automatic)")
    p.add_argument("--max-key-bits", type=int, default=0, help="MultiIndexHashing max_key_bits (0: whole substrings)")
    p.add_argument("--queries", type=int, default=200, help="single queries timed on the MIH")
    p.add_argument("--tail-queries", type=int, default=10_000,
                   help="fresh single 10-NN queries for the tail (p99; 0: skip)")
    p.add_argument("--tail-load", choices=["mmap", "read"], default="mmap",
                   help="how the tail's index is loaded: mapped (populated) or read into memory")
    p.add_argument("--flat-queries", type=int, default=8, help="of them, timed on the flat scan and checked")
    p.add_argument("--batch", type=int, default=200, help="queries per batch call (both indexes; at most --queries)")
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--epochs", type=int, default=5, help="NASH epochs for nash-reuters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "nash_billion")
    p.add_argument("--keep", action="store_true", help="keep generated codes and index files")
    p.add_argument("--dedup", action="store_true", help="also build and time the index that stores identical codes once")
    p.add_argument("--quick", action="store_true", help="fewer queries (a smoke run)")
    p.add_argument("--name", default="billion")
    p.add_argument("--out", type=Path, default=harness.OUT_DIR)
    args = p.parse_args(argv)
    if args.quick:
        args.queries, args.flat_queries, args.batch = 30, 4, 64
        args.tail_queries = min(args.tail_queries, 2000)
    args.data.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for nbits in args.nbits:
        for dist in args.dists:
            run_set(dist, nbits, args.n, args)
    save(args, _ALL)
    plot(args, _ALL)
    print(f"# wrote {args.out / args.name}.json and .png")


if __name__ == "__main__":
    main()
