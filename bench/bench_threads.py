"""Torch threads for training: NASH on Reuters with each candidate thread count, idle and with
one core kept busy by another process (issue 15, the measurement behind the library's default).

Each fit is ``NASH(nbits, epochs=E, patience=E)`` on the Reuters train split with early-stopping
validation (so every epoch also encodes the database and the validation queries), timed from
``fit`` to return. Candidates: torch's own default (what the library used before), 1 thread, the
physical cores, and ``len(os.sched_getaffinity(0))``; equal counts are run once and share a
row. Runs of the candidates are interleaved so that a change in the machine's load hits all of
them. Writes ``threads.json`` and ``threads.md`` into ``--out``.

    python bench/bench_threads.py --runs 3 --out /tmp/threads
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List

from harness import default_data_dir, machine_info

HERE = Path(__file__).resolve().parent
LOADS: List[Dict] = []


def physical_cores() -> int:
    """Distinct (physical id, core id) pairs of /proc/cpuinfo; the logical count if unreadable."""
    try:
        pairs, phys = set(), None
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    phys = value.strip()
                elif key.strip() == "core id":
                    pairs.add((phys, value.strip()))
        return len(pairs) or os.cpu_count() or 1
    except OSError:
        return os.cpu_count() or 1


def candidates(torch_default: int) -> Dict[int, List[str]]:
    """Thread count -> the names of the candidates that give it."""
    named = {"torch default": torch_default, "1 thread": 1, "physical cores": physical_cores(),
             "sched_getaffinity": len(os.sched_getaffinity(0))}
    out: Dict[int, List[str]] = {}
    for name, n in named.items():
        out.setdefault(n, []).append(name)
    return dict(sorted(out.items()))


def time_fit(corpus, bits: int, epochs: int, threads: int) -> float:
    from nash_index.models import NASH

    model = NASH(nbits=bits, epochs=epochs, patience=epochs, verbose=False, device="cpu", num_threads=threads)
    t0 = time.perf_counter()
    model.fit(corpus.X_train, corpus.y_train, corpus.X_val, corpus.y_val)
    return time.perf_counter() - t0


def measure(corpus, counts: List[int], args: argparse.Namespace, busy: bool) -> Dict[int, List[float]]:
    """Seconds per run for each thread count; with ``busy`` a spinning process runs meanwhile.
    The 1-minute load average after each run goes into ``LOADS`` (other users of the machine)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        times: Dict[int, List[float]] = {n: [] for n in counts}
        for run in range(args.runs):
            for n in counts:
                times[n].append(time_fit(corpus, args.bits, args.epochs, n))
                LOADS.append({"condition": "busy" if busy else "idle", "threads": n, "load1": os.getloadavg()[0]})
                print(f"{'busy' if busy else 'idle'} run {run + 1}/{args.runs}: {n} thread(s) "
                      f"{times[n][-1]:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
        return times
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def markdown(report: Dict) -> str:
    lines = [f"# Torch threads for training: NASH {report['bits']} bits, {report['epochs']} epochs of Reuters",
             "", f"Median of {report['runs']} runs (seconds per fit, validation included); "
             f"`python bench/bench_threads.py --runs {report['runs']}`. Machine: {report['machine'].get('cpu')}, "
             f"{report['machine']['cpus']} CPUs, load average {report['machine']['loadavg'][0]:.2f} at the start.", "",
             "`idle`: no process added by the script (other users of the machine still count: "
             f"1-minute load {min(r['load1'] for r in report['loads']):.1f} to {max(r['load1'] for r in report['loads']):.1f} "
             "after the runs); `busy`: plus one `while True: pass` process.", "",
             "| threads | candidates | idle | one core busy |", "| ---: | --- | ---: | ---: |"]
    for row in report["rows"]:
        cells = [f"{row[c]['median']:.1f} s" if c in row else "-" for c in ("idle", "busy")]
        lines.append(f"| {row['threads']} | {', '.join(row['names'])} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding the corpus archives")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "threads", help="output folder")
    ap.add_argument("--runs", type=int, default=3, help="runs per thread count and condition")
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--conditions", default="idle,busy", help="idle, busy or both")
    args = ap.parse_args()

    import torch  # before the library sets anything: torch's own default

    torch_default = torch.get_num_threads()
    from nash_index.datasets import load_corpus

    corpus = load_corpus("reuters", args.data or default_data_dir())
    named = candidates(torch_default)
    report = {"bits": args.bits, "epochs": args.epochs, "runs": args.runs, "torch": torch.__version__,
              "torch_default_threads": torch_default, "machine": machine_info(), "rows": []}
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for condition in args.conditions.split(","):
            results[condition] = measure(corpus, list(named), args, busy=condition == "busy")
    for n, names in named.items():
        row = {"threads": n, "names": names}
        for condition, times in results.items():
            row[condition] = {"seconds": times[n], "median": statistics.median(times[n])}
        report["rows"].append(row)
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["loads"] = LOADS
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.json").write_text(json.dumps(report, indent=2))
    (args.out / "threads.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
