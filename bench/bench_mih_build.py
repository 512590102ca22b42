"""MIH file build from disk: the partitioned table build against the counting sort it replaced (issue #25).

Each build is ``build_mih_file`` from a .npy in a fresh child process (as ``bench_billion.py``),
the two table builds alternated in the same run (``NASH_MIH_BUILD=counting`` selects the old
one), with the library's phase trace on (``NASH_MIH_BUILD_TRACE``): seconds per phase, total
wall time, peak RSS (the child's VmHWM) and whether both files are the same bytes (their
headers, which hold every section's checksum). Phases: ``append`` (reading the chunks and
writing the codes: the wall time less the rest), ``allocate`` (the tables' memory), the table
build (old: ``count``, ``place``, ``bucket_sort`` per table, the tables built in parallel so
these add up to more than ``tables``; new: ``partition_count``, ``partition_scratch``,
``partition_scatter``, ``partition_sort_write`` per table, one table after another),
``tables`` (wall), ``checksum_write`` and ``commit`` (fsync, rename).

Two 10^9 estimates: each build's ns per code grown by the ratio of ns per code between 10^7
and 10^8 (the superlinearity of one decade carried to the next: noisy where 10^7 takes a
second); and, for the new build, the largest sets built again with the scratch cut in
proportion to n, so that they make as many passes over the codes as 10^9 codes make with the
default 1 GiB, scaled linearly plus a penalty for the larger partitions' sort. Run the real thing with
``python bench/bench_billion.py --n 1e9 --dists c100000-p0.10``.

Command (the recorded results): ``python bench/bench_mih_build.py --out bench/results``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

import codes_on_disk as cod
import harness

ALGOS = ("counting", "partition")  # the old build, the new one
DEFAULT_SETS = "c100000-p0.10:64:1e7:3,uniform:64:1e7:3,c1000-p0.15:128:1e7:3,c100000-p0.10:64:1e8:2,uniform:64:1e8:2"

# The child: build_mih_file over the first n codes of a .npy, read in chunks as bench_billion does.
CHILD = (
    "import itertools,json,sys,time,pathlib,nash_index as ni;"
    "from nash_index.index.build import _file_chunks;"
    "src,n,out=sys.argv[1],int(sys.argv[2]),sys.argv[3];ch=1<<20;"
    "chunks,nbits=_file_chunks(pathlib.Path(src),None,ch);"
    "rows=(c[:n-i*ch] for i,c in enumerate(itertools.islice(chunks,-(-n//ch))));t=time.perf_counter();"
    "ni.build_mih_file(rows,out,nbits=nbits,progress=False);"
    "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
    "print(json.dumps({'total_s':time.perf_counter()-t,'peak_rss':int(hwm)*1024}))"
)
WHOLE_PHASES = ("allocate", "tables", "checksum_write", "commit")
# Partitions of 244K entries at 10^9 (4096 of them) against 49K at 10^8: the in-cache sort ran
# 1.9x slower per entry with 312K than with 39K (10^7 codes, partition bits forced).
SORT_PENALTY = 0.9


def build_once(src: Path, n: int, out: Path, algo: str, scratch_mb: Optional[int]) -> Dict[str, Any]:
    """One build in a child process: total seconds, peak RSS, summed phase seconds, header bytes."""
    env = dict(os.environ, NASH_MIH_BUILD=algo, NASH_MIH_BUILD_TRACE="1")
    if scratch_mb:
        env["NASH_MIH_BUILD_SCRATCH_MB"] = str(scratch_mb)
    done = subprocess.run([sys.executable, "-c", CHILD, str(src), str(n), str(out)], env=env,
                          check=True, capture_output=True, text=True)
    record = json.loads(done.stdout.strip().splitlines()[-1])
    phases: Dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "nash_mih_build":
            phases[parts[1]] = phases.get(parts[1], 0.0) + float(parts[2])
    phases["append"] = record["total_s"] - sum(phases.get(p, 0.0) for p in WHOLE_PHASES)
    with open(out, "rb") as f:
        record["header"] = f.read(1 << 16).hex()
    out.unlink()
    record["phases"] = phases
    return record


def codes_file(data: Path, dist: str, nbits: int, n: int) -> Path:
    """A .npy of at least n codes of the distribution (its first n serve: chunks have their own seeds)."""
    path = data / f"{dist}-{nbits}.npy"
    if path.exists():
        existing = np.load(path, mmap_mode="r")
        if existing.shape[0] >= n and existing.shape[1] == nbits // 8:
            return path
        del existing
        path.unlink()
    return cod.write_codes(path, n, nbits, dist)


def measure_set(dist: str, nbits: int, n: int, runs: int, args: Any) -> Dict[str, Any]:
    """Alternated builds of one code set: per algorithm the median total, phases and peak RSS."""
    src = args.data / f"{dist}-{nbits}.npy"
    out = args.data / "built.nidx"
    results: Dict[str, List[Dict[str, Any]]] = {a: [] for a in ALGOS}
    for run in range(runs):
        order = ALGOS if run % 2 == 0 else ALGOS[::-1]
        for algo in order:
            results[algo].append(build_once(src, n, out, algo, args.scratch_mb))
            r = results[algo][-1]
            print(f"  {dist} {nbits}-bit n={n:.0e} {algo}: {r['total_s']:.1f} s", flush=True)
    headers = {r["header"] for rs in results.values() for r in rs}
    row: Dict[str, Any] = {"dist": dist, "nbits": nbits, "n": n, "runs": runs, "identical": len(headers) == 1}
    for algo, rs in results.items():
        names = sorted({p for r in rs for p in r["phases"]})
        row[algo] = {
            "total_s": statistics.median(r["total_s"] for r in rs),
            "all_s": [r["total_s"] for r in rs],
            "peak_rss": max(r["peak_rss"] for r in rs),
            "phases": {p: statistics.median(r["phases"].get(p, 0.0) for r in rs) for p in names},
        }
        row[algo]["ns_per_code"] = row[algo]["total_s"] / n * 1e9
    row["speedup"] = row["counting"]["total_s"] / row["partition"]["total_s"]
    return row


def extrapolate(rows: List[Dict[str, Any]], target: int = 10**9) -> List[Dict[str, Any]]:
    """10^9 estimates from the 10^7 and 10^8 rows of each code set (see the module docstring)."""
    out = []
    for big in rows:
        small = next((r for r in rows if (r["dist"], r["nbits"]) == (big["dist"], big["nbits"])
                      and r["n"] * 10 == big["n"]), None)
        if small is None or big["n"] * 10 != target:
            continue
        est = {"dist": big["dist"], "nbits": big["nbits"], "from": [small["n"], big["n"]]}
        for algo in ALGOS:
            growth = big[algo]["ns_per_code"] / small[algo]["ns_per_code"]
            est[algo] = {"growth_per_decade": growth,
                         "estimate_s": big[algo]["ns_per_code"] * growth * target / 1e9}
        out.append(est)
    return out


def pass_proxy(sets: List[tuple], args: Any, target: int = 10**9) -> List[Dict[str, Any]]:
    """The new build of each largest set with its scratch cut to n / target of the default 1 GiB
    (as many passes over the codes as a build of `target` codes makes), alternated with the
    default scratch. The estimate scales it linearly and adds the larger partitions' sort cost
    (SORT_PENALTY on that phase)."""
    out = []
    largest = max(n for _, _, n, _ in sets)
    for dist, nbits, n, _ in (x for x in sets if x[2] == largest and x[2] < target):
        scratch_mb = max(1, round(1024 * n / target))
        src, built = args.data / f"{dist}-{nbits}.npy", args.data / "built.nidx"
        runs: Dict[Optional[int], List[Dict[str, Any]]] = {None: [], scratch_mb: []}
        for run in range(2):
            for mb in ((None, scratch_mb) if run % 2 == 0 else (scratch_mb, None)):
                runs[mb].append(build_once(src, n, built, "partition", mb))
        med = {mb: {"total_s": statistics.median(r["total_s"] for r in rs),
                    "scatter_s": statistics.median(r["phases"].get("partition_scatter", 0.0) for r in rs),
                    "sort_s": statistics.median(r["phases"].get("partition_sort_write", 0.0) for r in rs)}
               for mb, rs in runs.items()}
        cut = med[scratch_mb]
        out.append({"dist": dist, "nbits": nbits, "n": n, "scratch_mb": scratch_mb, "cut": cut,
                    "default": med[None], "estimate_s": target / n * (cut["total_s"] + SORT_PENALTY * cut["sort_s"])})
    return out


def fmt_phases(phases: Dict[str, float]) -> str:
    return ", ".join(f"{p} {s:.2f}" for p, s in sorted(phases.items(), key=lambda kv: -kv[1]) if s >= 0.005)


def markdown(rows: List[Dict[str, Any]], estimates: List[Dict[str, Any]], proxies: List[Dict[str, Any]],
             meta: Dict[str, Any]) -> str:
    lines = [f"# MIH file build from disk: partitioned vs counting sort ({meta['machine']})", "",
             "`build_mih_file` from a .npy in a child process, the two table builds alternated in one run; "
             "medians (runs per row in the table). Peak RSS = the child's VmHWM. Identical = both builds "
             "wrote the same header (every section's checksum). Command: `python bench/bench_mih_build.py "
             "--out bench/results`" + (f" (scratch {meta['scratch_mb']} MB)" if meta.get("scratch_mb") else "")
             + ". The machine was shared (load printed below): compare within a row.", "",
             "| codes | N | runs | counting sort | partitioned | speed-up | ns/code old / new | peak RSS old / new | identical |",
             "|---|---|---|---|---|---|---|---|---|"] if rows else [f"# MIH file build: 10^9 pass proxy ({meta['machine']})"]
    for r in rows:
        c, p = r["counting"], r["partition"]
        lines.append(f"| {r['dist']}, {r['nbits']}-bit | {r['n']:.0e} | {r['runs']} | {c['total_s']:.1f} s | "
                     f"{p['total_s']:.1f} s | **{r['speedup']:.1f}x** | {c['ns_per_code']:.0f} / {p['ns_per_code']:.0f} | "
                     f"{c['peak_rss'] / 2**30:.2f} / {p['peak_rss'] / 2**30:.2f} GiB | {'yes' if r['identical'] else 'NO'} |")
    if rows:
        lines += ["", "Seconds per phase (medians; the old build's per-table phases overlap):", ""]
    for r in rows:
        for algo in ALGOS:
            lines.append(f"- {r['dist']} {r['nbits']}-bit {r['n']:.0e}, {algo}: {fmt_phases(r[algo]['phases'])}")
    if estimates:
        lines += ["", "10^9 estimate (ns per code at 10^8 times its growth from 10^7 to 10^8: noisy, a new build "
                  "of 10^7 codes takes about a second on a shared machine; the pass proxy below or in "
                  "`mih_build_proxy.md` is the better estimate; the old build measured 699-716 s at 10^9 in "
                  "`billion.md`):", ""]
        for e in estimates:
            lines.append(f"- {e['dist']} {e['nbits']}-bit (from {e['from'][0]:.0e} and {e['from'][1]:.0e}): "
                         f"counting sort {e['counting']['estimate_s']:.0f} s "
                         f"(growth {e['counting']['growth_per_decade']:.2f}x per decade), partitioned "
                         f"{e['partition']['estimate_s']:.0f} s (growth {e['partition']['growth_per_decade']:.2f}x)")
    if proxies:
        lines += ["", "10^9 estimate of the partitioned build from its passes: the largest sets built again with "
                  "the scratch cut in proportion (as many passes over the codes as at 10^9), scaled linearly, "
                  f"plus {SORT_PENALTY}x the sort phase for the larger partitions:", ""]
        for x in proxies:
            cut, full = x["cut"], x["default"]
            lines.append(f"- {x['dist']} {x['nbits']}-bit, {x['n']:.0e} codes: {cut['total_s']:.1f} s with "
                         f"{x['scratch_mb']} MB of scratch (scatter {cut['scatter_s']:.1f} s, sort {cut['sort_s']:.1f} s) "
                         f"against {full['total_s']:.1f} s with the default (scatter {full['scatter_s']:.1f} s) "
                         f"-> **{x['estimate_s']:.0f} s at 10^9**")
    lines += ["", f"Load average at the start / end: {meta['load_start']} / {meta['load_end']}."]
    return "\n".join(lines) + "\n"


def parse_sets(text: str) -> List[tuple]:
    sets = []
    for item in text.split(","):
        dist, nbits, n, runs = item.split(":")
        sets.append((dist, int(nbits), int(float(n)), int(runs)))
    return sets


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=DEFAULT_SETS, help="dist:nbits:n:runs, comma separated")
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "nash_mih_build",
                   help="folder for the generated codes and the built files")
    p.add_argument("--scratch-mb", type=int, default=None, help="NASH_MIH_BUILD_SCRATCH_MB for the new build")
    p.add_argument("--no-proxy", dest="proxy", action="store_false",
                   help="skip the 10^9 pass proxy (the largest sets again with the scratch cut in proportion)")
    p.add_argument("--proxy-only", action="store_true", help="only the 10^9 pass proxy (e.g. --name mih_build_proxy)")
    p.add_argument("--name", default="mih_build")
    p.add_argument("--out", type=Path, default=harness.OUT_DIR)
    args = p.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    meta = {"machine": harness.machine_info().get("cpu", "?"), "scratch_mb": args.scratch_mb,
            "load_start": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    sets = parse_sets(args.sets)
    for dist, nbits in {(d, b) for d, b, _, _ in sets}:
        codes_file(args.data, dist, nbits, max(n for d, b, n, _ in sets if (d, b) == (dist, nbits)))
    rows = [] if args.proxy_only else [measure_set(dist, nbits, n, runs, args) for dist, nbits, n, runs in sets]
    estimates = extrapolate(rows)
    proxies = pass_proxy(sets, args) if args.proxy or args.proxy_only else []
    meta["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(harness.dumps_strict({"meta": meta, "rows": rows, "estimates": estimates,
                                                                           "proxies": proxies}))
    text = markdown(rows, estimates, proxies, meta)
    (args.out / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
