"""How close the index is to the hardware (issue 25): one table, every target, ours vs faiss vs the measured bound.

    python bench/bench_limits.py --quick                       # small sizes, one run (a few minutes)
    python bench/bench_limits.py --runs 3 --out bench/results  # the tracked table (limits.md/.json/.png)
    python bench/bench_limits.py --rows single,floor           # some row groups only

Each row is measured in one process: the bound, nash_index and faiss back to back in every run, the
ratios taken within each run, the table keeping the median of the runs (the machine is shared).

- bound of a single-query scan: one pass of every core streaming the database's bytes
  (``limits_bounds.cpp``: 32-byte loads, DRAM once the database is beyond the LLC);
- bound of a batch: (codes x queries) / the pairs per second of xor + popcount + compare with the
  codes in L1 and 8 queries in registers, every core (``limits_bounds.cpp``);
- faiss: IndexBinaryFlat at its best thread count of the run (1..cores), OpenMP passive wait.

Adding a row: write a function ``rows(ctx: limits_rows.Context) -> list of limits_rows.row(...)``
(in a ``bench/limits_<topic>.py`` module) and add it to ``ROW_GROUPS`` under a name; its options
go into ``add_arguments``. Rows with a ``bound`` are drawn against it in the PNG; caller rows
(``callers`` and ``share_of_best`` set) in the caller panel. ``--from-json`` re-renders the
table and the PNG of a saved run (e.g. after appending rows measured by another script).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

faiss = harness.import_faiss()  # first: sets faiss's OpenMP wait policy before any OpenMP runtime starts

import limits_callers  # noqa: E402
import limits_exact  # noqa: E402
import limits_flat  # noqa: E402
import limits_plot  # noqa: E402
import nash_index as ni  # noqa: E402
from limits_bounds import has_avx2, read_seconds  # noqa: E402
from limits_rows import Context  # noqa: E402

#: name -> row function; the order of the table.
ROW_GROUPS: Dict[str, Callable[[Context], List[Dict]]] = {
    "single": limits_flat.single_query_rows,
    "batch": limits_flat.batch_rows,
    "callers": limits_callers.caller_rows,
    "floor": limits_flat.floor_rows,
    "exact": limits_exact.exact_rows,  # faiss IVF / HNSW at recall 0.95 (bench_exact_vs_approx --quick shapes)
}

FULL = dict(single_mb=256, batch_n="1M", callers_n="4M", caller_seconds=2.0, runs=3, single_queries=40,
            floor_calls=2000, repeats=3)
QUICK = dict(single_mb=96, batch_n="200K", callers_n="1M", caller_seconds=0.5, runs=1, single_queries=15,
             floor_calls=500, repeats=2)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sizes, one run: " + str(QUICK))
    p.add_argument("--rows", default=",".join(ROW_GROUPS), help=f"row groups (default all: {','.join(ROW_GROUPS)})")
    p.add_argument("--widths", default="64,128,256,512,1024", help="code widths in bits (single and batch rows)")
    p.add_argument("--single-mb", type=int, help=f"database MiB of the single-query rows (default {FULL['single_mb']}; "
                                                  "beyond the LLC)")
    p.add_argument("--single-queries", type=int, help="single queries timed per run")
    p.add_argument("--batch", type=int, default=1000, help="queries per call of the batch rows")
    p.add_argument("--batch-n", help=f"codes of the batch rows (default {FULL['batch_n']})")
    p.add_argument("--callers", default="1,2,4,8,16", help="caller thread counts")
    p.add_argument("--caller-kinds", default="flat,mih", help="index kinds of the caller rows (make_index kinds)")
    p.add_argument("--callers-n", help=f"codes of the caller rows (default {FULL['callers_n']})")
    p.add_argument("--caller-seconds", type=float, help="seconds each caller count runs per run")
    p.add_argument("--floor-calls", type=int, help="calls per timing of the floor row")
    p.add_argument("--runs", type=int, help="runs per row (the table keeps medians)")
    p.add_argument("--repeats", type=int, help="batch calls timed per run")
    p.add_argument("--no-faiss", action="store_true")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--from-json", type=Path, help="re-render the table and PNG of a run's JSON (measures nothing)")
    p.add_argument("--merge", type=Path, action="append", default=[], metavar="JSON",
                   help="rows of another run's JSON replace (or join) the groups of this table; repeatable")
    p.add_argument("--name", default="limits", help="output file stem")
    p.add_argument("--out", type=Path, default=harness.OUT_DIR, help="output folder (default bench/out/)")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    a = p.parse_args(argv)
    for key, value in (QUICK if a.quick else FULL).items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    a.widths, a.callers = harness.parse_list(a.widths), harness.parse_list(a.callers)
    a.batch_n, a.callers_n = harness.parse_list(a.batch_n)[0], harness.parse_list(a.callers_n)[0]
    a.caller_kinds = [k.strip() for k in a.caller_kinds.split(",") if k.strip()]
    a.rows = [r.strip() for r in a.rows.split(",") if r.strip()]
    unknown = [r for r in a.rows if r not in ROW_GROUPS]
    if unknown:
        p.error(f"unknown row groups {unknown}; known: {list(ROW_GROUPS)}")
    return a


def fmt(value, spec: str = "%.3g") -> str:
    return "–" if value is None else spec % value


def pair(r: Dict, key: str) -> str:
    """A ratio and, in brackets, its CPU-time twin."""
    cpu = r.get(key + "_cpu")
    return fmt(r.get(key), "%.2f") + ("" if cpu is None else f" ({cpu:.2f})")


def markdown(rows: List[Dict], meta: Dict) -> str:
    lines = [f"# At the hardware limit (issue 25): `python bench/bench_limits.py {' '.join(meta['argv'])}`", "",
             f"{meta['machine'].get('cpu')}, {meta['cores']} cores, SIMD level {meta['simd']}; load average "
             f"{meta['load_before']} before, {meta['load_after']} after; {meta['seconds']:.0f} s. "
             f"Medians of {meta['runs']} run(s); ratios taken within each run. DRAM read bound measured "
             f"{meta['read_gbps']:.1f} GB/s (all cores, same run).", "",
             "x bound: our time / the bound's time (1.0 = at the bound), from wall-clock medians and, in "
             "brackets, from CPU seconds of the process (the OS's time slices to other processes left out: "
             "what the goals are judged on when the machine is shared); x faiss: faiss's time / ours, "
             "wall (CPU), faiss at its best thread count; share: q/s / the best caller count's q/s, wall (and "
             "queries per CPU second over the best count's); the caller rows also give, in brackets, the p99 "
             "and share (of the default's best count) with the search gate set to twice the CPU count "
             "(`ni.set_search_slots`; open by default), alternated in the same run; sha256 ref: the CPU share "
             "that `hashlib.sha256` of 40 kB a call (CPython's own call releasing the GIL) keeps at the same "
             "caller count in the same run. "
             "The compute bound of the batch rows is the fastest of plain reference loops (scalar POPCNT, "
             "an AVX2 nibble table and, where the CPU has it, AVX-512 VPOPCNTQ over word planes; 8 queries "
             "per loaded code, codes in L1): where a ratio is below 1 "
             "the blocked kernels beat that reference, so it is a floor of plain code, not a roofline.", "",
             "| row | shape | unit | nash_index | faiss | bound | x bound (cpu) | x faiss (cpu) | p50 / p99 ms "
             "| share | goal | met |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in meta.get("merged", []):
        lines.insert(3, f"Rows merged from `{m['file']}` (`{' '.join(m['argv'] or [])}`, load {m['load_before']}).")
    for r in rows:
        lat = f"{r['p50_ms']:.3f} / {r['p99_ms']:.3f}" if r.get("p50_ms") is not None else "–"
        gate = r.get("gate")
        if gate:  # the same callers with the search gate set, alternated in the same run
            lat += f" (gate {gate['slots']}: p99 {gate['p99_ms']:.3f}, share {fmt(gate['share_of_best'], '%.2f')})"
        share = pair(r, "share_of_best")
        ref = r.get("gil_reference")
        if ref:  # CPython's own GIL-releasing call at the same caller count, same run (CPU share)
            share += f" [sha256 ref {fmt(ref['share_of_best_cpu'], '%.2f')}]"
        lines.append(f"| {r['group']} | {r['shape']} | {r['unit']} | {fmt(r['ours'])} | {fmt(r['faiss'])} | "
                     f"{fmt(r['bound'])} | {pair(r, 'x_bound')} | {pair(r, 'x_faiss')} | {lat} | "
                     f"{share} | {r['goal']} | {'yes' if r['met'] else '**no**'} |")
    return "\n".join(lines)


def merged(payload: Dict, others: List[Path]) -> Dict:
    """``payload`` with the rows of other runs' JSON: a group measured there replaces the group
    here (or is appended); their command lines are kept in ``meta["merged"]``, once per file (a file
    merged again replaces its earlier line)."""
    for path in others:
        other = json.loads(path.read_text())
        groups = {r["group"] for r in other["rows"]}
        payload["rows"] = [r for r in payload["rows"] if r["group"] not in groups] + other["rows"]
        earlier = [m for m in payload["meta"].get("merged", []) if m["file"] != path.name]
        payload["meta"]["merged"] = earlier + [dict(file=path.name, argv=other["meta"].get("argv"),
                                                    load_before=other["meta"].get("load_before"))]
    return payload


def render(a: argparse.Namespace, payload: Dict) -> None:
    """Writes ``<out>/<name>.md/.json/.png`` from a run's payload (``{"meta", "rows"}``)."""
    md = markdown(payload["rows"], payload["meta"])
    harness.write_report(payload, a.out, a.name, md)
    png = None if a.no_plot else limits_plot.plot(payload["rows"], a.out / f"{a.name}.png")
    print("\n" + md + f"\n\n# wrote {a.out / a.name}.md/.json" + (f" and {png}" if png else ""))


def main(argv=None) -> None:
    a = parse(argv)
    if a.from_json:  # only the table and the PNG again (e.g. after adding rows from another run)
        return render(a, merged(json.loads(a.from_json.read_text()), a.merge))
    cores = ni.get_num_threads()
    ctx = Context(args=a, faiss=None if a.no_faiss else faiss, cores=cores,
                  thread_counts=sorted({1, cores}))
    if not has_avx2():
        raise SystemExit("bench_limits measures its bounds with AVX2 kernels; this CPU has no AVX2")
    load_before, t0 = os.getloadavg(), time.time()
    rows: List[Dict] = []
    for name in a.rows:
        print(f"# {name} ...", flush=True)
        got = ROW_GROUPS[name](ctx)
        for r in got:
            print(f"  {r['shape']}: ours {fmt(r['ours'])} {r['unit']}, faiss {fmt(r['faiss'])}, bound {fmt(r['bound'])}, "
                  f"x bound {fmt(r['x_bound'], '%.2f')}, x faiss {fmt(r['x_faiss'], '%.2f')}, "
                  f"share {fmt(r.get('share_of_best'), '%.2f')}, met {r['met']}", flush=True)
        rows.extend(got)
    probe = np.ones(256 << 20, dtype=np.uint8)
    meta = dict(machine=harness.machine_info(), simd=ni.simd_level(), cores=cores, argv=sys.argv[1:] if argv is None
                else list(argv), runs=a.runs, seconds=time.time() - t0, load_before=[round(x, 1) for x in load_before],
                load_after=[round(x, 1) for x in os.getloadavg()], faiss=getattr(faiss, "__version__", None),
                read_gbps=probe.nbytes / read_seconds(probe, cores)[0] / 1e9)
    del probe
    render(a, merged(dict(meta=meta, rows=rows), a.merge))


if __name__ == "__main__":
    main()
