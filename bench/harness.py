"""Shared benchmark harness (flat scan, multi-index hashing, ...).

Timing with medians of repeated runs and latency percentiles, resident memory,
code generators (uniform, clustered), a memory-read-bandwidth measurement, and
JSON + PNG output under bench/results/. No nash_index import here, so any
benchmark can use it.
"""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------ timing
@dataclass
class Timing:
    """Seconds per call over several runs (the median is the figure to quote)."""

    times: List[float]

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def p50(self) -> float:
        return float(np.percentile(self.times, 50))

    @property
    def p99(self) -> float:
        return float(np.percentile(self.times, 99))

    @property
    def best(self) -> float:
        return float(np.min(self.times))


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


# -------------------------------------------------------------- generators
def uniform_codes(n: int, nbits: int, seed: int = 0) -> np.ndarray:
    """n uniformly random packed codes (uint8, (n, nbits // 8))."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, nbits // 8), dtype=np.uint8)


def clustered_codes(n: int, nbits: int, c: int, p: float, seed: int = 0, chunk: int = 1 << 18) -> np.ndarray:
    """c random centres; each code is a centre with every bit flipped with probability p.

    Built in chunks so that 10M codes never need a (n, nbits) bit array.
    """
    rng = np.random.default_rng(seed)
    centres = np.packbits(rng.integers(0, 2, size=(c, nbits), dtype=np.uint8), axis=1)
    out = np.empty((n, nbits // 8), dtype=np.uint8)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        flips = np.packbits(rng.random((m, nbits), dtype=np.float32) < p, axis=1)
        out[lo : lo + m] = centres[rng.integers(0, c, size=m)] ^ flips
    return out


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


# ---------------------------------------------------------- machine & I/O
def machine_info() -> Dict[str, object]:
    info: Dict[str, object] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info


def save_json(name: str, payload: Dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


def plot_bars(name: str, records: Sequence[Dict[str, object]], label_keys: Sequence[str], value_key: str,
              series_key: str, title: str = "", log: bool = True) -> Optional[Path]:
    """Grouped bar chart: one group per distinct `label_keys`, one bar per `series_key`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels: List[str] = []
    series: List[str] = []
    for r in records:
        lab = " ".join(f"{k}={r[k]}" for k in label_keys)
        if lab not in labels:
            labels.append(lab)
        if r[series_key] not in series:
            series.append(str(r[series_key]))
    values = {s: [np.nan] * len(labels) for s in series}
    for r in records:
        lab = " ".join(f"{k}={r[k]}" for k in label_keys)
        values[str(r[series_key])][labels.index(lab)] = float(r[value_key])
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(8, 0.5 * len(labels) * len(series)), 5))
    x = np.arange(len(labels))
    for i, s in enumerate(series):
        ax.bar(x + i * width, values[s], width, label=s)
    ax.set_xticks(x + width * (len(series) - 1) / 2)
    ax.set_xticklabels(labels, rotation=75, fontsize=7)
    ax.set_ylabel(value_key)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
