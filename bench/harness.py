"""Shared benchmark harness (flat scan, multi-index hashing, quality studies).

Timing with medians of repeated runs and per-query latency percentiles (the one
definition of p50/p99 the speed benchmarks use, see ``Timing``), resident memory,
a memory-read-bandwidth measurement, output under --out (default bench/out/, ignored
by git: the tracked bench/results/ is written only when asked for), and the report
helpers of the quality studies (data folder, precision cells, Markdown tables).

What ``nash-index bench`` also needs has one home in the library and is imported from
there (``nash_index.cli.bench``: the latency statistics, faiss loading;
``nash_index.cli.bench_report``: strict JSON, bar charts, machine facts), so this module
imports nash_index and its CLI package (numpy and scipy, not torch, Ray or faiss).
Synthetic codes come from the library's one generator, ``nash_index.index.synthetic``.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

import numpy as np

from nash_index.cli import bench_report
from nash_index.cli.bench import import_faiss as _import_faiss
from nash_index.cli.bench import latency_stats
from nash_index.cli.bench_report import dumps_strict, finite, machine_info  # noqa: F401 (harness.<name> for the scripts)

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"  # tracked: written only with an explicit --out bench/results
OUT_DIR = REPO / "bench" / "out"  # default of the speed benchmarks (in .gitignore)
T = TypeVar("T")


def add_speed_args(p: Any, name: str) -> None:
    """The options every speed benchmark shares: timing, faiss and where the results go."""
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per measurement before stopping early")
    p.add_argument("--omp-active", action="store_true", help="keep OpenMP's default (active) wait policy for faiss")
    p.add_argument("--no-faiss", action="store_true")
    p.add_argument("--name", default=name, help="output file stem (in --out)")
    p.add_argument("--out", type=Path, default=OUT_DIR, metavar="DIR",
                   help="output folder (default bench/out/, untracked; pass bench/results to update the tracked figures)")


def import_faiss() -> Any:
    """faiss (the `bench` extra) or None, as ``nash_index.cli.bench.import_faiss``: OpenMP's passive
    wait policy for faiss unless the command line says --omp-active."""
    return _import_faiss(omp_active="--omp-active" in sys.argv)


# ------------------------------------------------------------------ timing
@dataclass
class Timing:
    """Seconds per timed call, and how many queries each call answered (``per_call``).

    Latencies follow the one definition of ``nash_index.cli.bench.latency_stats`` (also what
    ``nash-index bench`` prints): a query's latency is its call's time divided by the queries in
    the call, p50 / p99 are percentiles of it, and p99 is None with too few calls.
    """

    times: List[float]
    per_call: int = 1

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return float(np.median(self.times))

    def _ms(self) -> Dict[str, Optional[float]]:
        return latency_stats(self.times, self.per_call)

    @property
    def p50(self) -> float:
        """Median seconds per query."""
        return self._ms()["p50_ms"] / 1e3

    @property
    def p99(self) -> Optional[float]:
        p99 = self._ms()["p99_ms"]
        return None if p99 is None else p99 / 1e3

    @property
    def qps(self) -> float:
        """Queries per second at the median call."""
        return self._ms()["qps"]

    @property
    def best(self) -> float:
        return float(np.min(self.times))

    def stats(self, unit: float = 1e3, suffix: str = "ms") -> Dict[str, Optional[float]]:
        """``{"qps", "p50_<suffix>", "p99_<suffix>"}``, latencies in seconds x ``unit``."""
        p99 = self.p99
        return {"qps": self.qps, f"p50_{suffix}": self.p50 * unit, f"p99_{suffix}": None if p99 is None else p99 * unit}


def warm_file(path: Path) -> float:
    """Reads the file once (into the page cache); returns seconds."""
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 24):
            pass
    return time.perf_counter() - t0


def time_calls(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, min_time: float = 0.0,
               budget: Optional[float] = None) -> Timing:
    """Times `fn()` `repeats` times after `warmup` untimed calls (and at least `min_time` s in all).

    `budget` (seconds) stops early once at least one run is timed: slow
    baselines then cost a bounded time (fewer runs, noted by len(times)).
    """
    for _ in range(warmup):
        fn()
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        if budget is not None and times and time.perf_counter() - start > budget:
            break
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Timing(times)


def time_each(fn: Callable[[int], object], count: int, warmup: int = 3, budget: Optional[float] = None) -> Timing:
    """Latency of `fn(i)` for i in range(count): one sample per call (p50 / p99 of single queries).

    `budget` (seconds) stops early after at least 5 samples.
    """
    for i in range(min(warmup, count)):
        fn(i)
    times = []
    start = time.perf_counter()
    for i in range(count):
        if budget is not None and len(times) >= 5 and time.perf_counter() - start > budget:
            break
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return Timing(times)


def time_search(search: Callable[[np.ndarray], object], queries: np.ndarray, single: bool, repeats: int,
                budget: Optional[float], warmup: int = 1) -> Timing:
    """Single: one call per query (latency samples, `time_each`); else repeated calls over all of `queries`.

    `warmup=0` for the batch of a slow baseline already called once (check or tuning).
    """
    if single:
        return time_each(lambda i: search(queries[i : i + 1]), count=queries.shape[0], budget=budget)
    t = time_calls(lambda: search(queries), repeats=repeats, warmup=warmup, budget=budget)
    return Timing(t.times, per_call=queries.shape[0])


def qps(t: Timing, per_call: Optional[int] = None) -> float:
    """Queries per second of calls that answer `per_call` queries each (default: the timing's own)."""
    return (per_call or t.per_call) / t.median


# ------------------------------------------------------------------ memory
def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_bytes() -> int:
    """Current resident set size (Linux)."""
    return _status_kib("VmRSS") * 1024


def peak_rss_bytes() -> int:
    return _status_kib("VmHWM") * 1024


def timed_add(index: T, codes: np.ndarray) -> Tuple[T, float, int]:
    """An empty index (nash_index or faiss) after ``index.add(codes)``, the wall seconds of the add
    and the resident memory it added (bytes, `settled_rss`)."""
    rss0 = settled_rss()
    t0 = time.perf_counter()
    index.add(codes)
    seconds = time.perf_counter() - t0
    return index, seconds, settled_rss() - rss0


def settled_rss() -> int:
    """RSS after handing freed heap memory back to the OS (glibc), so that an
    index built after another one was freed does not reuse its pages unseen."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return rss_bytes()


# -------------------------------------------------------------- bandwidth
def memory_read_bandwidth(nbytes: int = 1 << 30, threads: int = 1, repeats: int = 5) -> float:
    """Bytes/s that `threads` threads read from RAM (median of `repeats`).

    numpy's reductions release the GIL, so each thread ORs its own slice of one
    large uint64 array: a cheap op that is limited by reads, not by compute.
    The array is larger than any cache so the figure is DRAM (or the LLC when
    it is huge; pass a larger `nbytes` then).
    """
    data = np.ones(nbytes // 8, dtype=np.uint64)
    parts = np.array_split(data, threads)

    def one_pass():
        if threads == 1:
            np.bitwise_or.reduce(data)
            return
        ts = [threading.Thread(target=np.bitwise_or.reduce, args=(p,)) for p in parts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    t = time_calls(one_pass, repeats=repeats, warmup=1)
    return data.nbytes / t.median


# ---------------------------------------------------------- I/O
def save_json(name: str, payload: Dict[str, object], out: Optional[Path] = None) -> Path:
    out = out or OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(dumps_strict(payload) + "\n")
    return path


def plot_bars(name: str, records: Sequence[Dict[str, object]], label_keys: Sequence[str], value_key: str,
              series_key: str, title: str = "", log: bool = True, out: Optional[Path] = None,
              xlabel: Optional[str] = None) -> Optional[Path]:
    """``<out>/<name>.png``: ``nash_index.cli.bench_report.plot_bars`` (grouped bars, one group per
    distinct ``label_keys``, one bar per ``series_key``); None without matplotlib."""
    out = out or OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    drawn = bench_report.plot_bars(records, label_keys, value_key, series_key, path, title=title, log=log, xlabel=xlabel)
    return path if drawn else None


def parse_list(text: str, cast=int) -> List:
    """'1,10,100' -> [1, 10, 100]; accepts 1e6 / 10M style numbers for ints."""
    out = []
    for part in text.split(","):
        part = part.strip()
        mult = 1
        if part[-1:].upper() in ("K", "M"):
            mult = 1000 if part[-1].upper() == "K" else 1_000_000
            part = part[:-1]
        out.append(cast(float(part) * mult) if cast is int else cast(part))
    return out


def table(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def cell(record: Dict[str, object], key: str, fmt: str) -> str:
    """``fmt % record[key]`` for a table, or "-" when the record lacks the key or it is None / NaN."""
    v = record.get(key)
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt % v


# ------------------------------------------------------ quality studies
def default_data_dir() -> Optional[Path]:
    """``$NASH_INDEX_DATA`` if set (None: the library reads the variable itself), else
    ``<repo>/../shared/data`` if it exists."""
    if os.environ.get("NASH_INDEX_DATA"):
        return None
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def precision_cell(p: Any) -> Dict[str, Any]:
    """A report cell of a ``nash_index.evaluation.PrecisionAtK``: both tie rules, 4 places."""
    return {"p_index": round(p.index_order, 4), "p_expected": round(p.expected, 4)}


def fmt_precision(c: Optional[Dict[str, Any]]) -> str:
    """A precision cell in Markdown: ``index order / expected``, or "–" where there is none."""
    return f"{c['p_index']:.4f} / {c['p_expected']:.4f}" if c else "–"


def md_table_head(first: str, columns: Iterable[object]) -> List[str]:
    """The header and rule lines of a Markdown table."""
    cells = [first, *map(str, columns)]
    return ["| " + " | ".join(cells) + " |", "|---|" + "---|" * (len(cells) - 1)]


def paper_rows(paper: Dict[str, Sequence[float]], paper_bits: Sequence[int], bits: Sequence[int],
               tail: str = "") -> List[str]:
    """A Markdown row per published method: its figure at each of `bits`, "–" where the paper has none."""
    lines = []
    for name, row in paper.items():
        vals = dict(zip(paper_bits, row))
        lines.append(f"| {name} (paper) | " + " | ".join(f"{vals[b]:.4f}" if b in vals else "–" for b in bits) + " |" + tail)
    return lines


def add_grid_args(p: Any, sizes: Sequence[int], widths: Sequence[int]) -> None:
    """``--n`` and ``--nbits`` (lists: ``1M,10M``, ``64,128``), ``--seed`` and ``--out`` of a grid benchmark."""
    p.add_argument("--n", type=parse_list, default=list(sizes))
    p.add_argument("--nbits", type=parse_list, default=list(widths))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT_DIR)


def run_grid(sizes: Sequence[int], widths: Sequence[int], items: Sequence[Any],
             cell: Callable[[Any, int, int], Dict[str, Any]],
             write: Callable[[List[Dict[str, Any]]], None]) -> List[Dict[str, Any]]:
    """The rows ``cell(item, n, nbits)`` of every (n, nbits, item), each printed as JSON and the report
    rewritten (``write(rows so far)``) as it ends: a long grid leaves its results if it is stopped."""
    rows: List[Dict[str, Any]] = []
    for n in sizes:
        for nbits in widths:
            for item in items:
                rows.append(cell(item, n, nbits))
                print(dumps_strict(rows[-1], indent=None), flush=True)
                write(rows)
    return rows


def write_report(report: Dict[str, Any], out: Path, name: str, markdown: str) -> None:
    """``<out>/<name>.json`` (the report) and ``<out>/<name>.md`` (its rendering)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(dumps_strict(report, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown + "\n")
