"""What a benchmark reports: the table and the PNG of ``nash-index bench`` (rows as
``nash_index.cli.bench`` measures them), and what every benchmark shares with it (``bench/harness.py``
imports them): strict JSON, grouped bar charts on a log axis, the machine it ran on."""
from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

__all__ = ["dumps_strict", "finite", "log_limits", "machine_info", "plot", "plot_bars", "print_table"]

Row = Dict[str, Any]


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: List[Row]) -> None:
    """One line per measurement; latencies are per query (a batch row: call time / batch size)."""
    head = (f"{'N':>10} {'bits':>4} {'index':<21} {'k':>4} {'batch':>5} {'thr':>3} {'build s':>8} "
            f"{'queries/s':>11} {'p50 ms/query':>12} {'p99 ms/query':>12} {'x faiss':>7}")
    print("latency per query: batch 1 = one call per query; batch > 1 = call time / batch size")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n']:>10,} {r['bits']:>4} {r['index']:<21} {r['k']:>4} {r['batch']:>5} {r['threads']:>3} "
              f"{r['build_s']:>8.2f} {r['qps']:>11,.0f} {_fmt(r['p50_ms'], '.4f'):>12} "
              f"{_fmt(r['p99_ms'], '.4f'):>12} {_fmt(r.get('x_faiss'), '.2f'):>7}")


def log_limits(values: Iterable[Optional[float]]) -> tuple:
    """A log axis on whole decades around the finite positive values (never starting at an odd 5k)."""
    v = [x for x in values if x is not None and x > 0 and math.isfinite(x)]
    if not v:
        return 1.0, 10.0
    lo, hi = math.floor(math.log10(min(v))), math.ceil(math.log10(max(v)))
    return 10.0 ** lo, 10.0 ** max(hi, lo + 1)


def _config(r: Row) -> str:
    n = f"{r['n'] / 1e6:g}M" if r["n"] >= 1_000_000 else f"{r['n']:,}"
    return f"N={n} {r['bits']}b k={r['k']} batch {r['batch']}, {r['threads']} thr"


def plot(rows: List[Row], path: Path, simd: str, data: str) -> bool:
    """One group of bars per configuration, one bar per index (see :func:`plot_bars`)."""
    return plot_bars([{**r, "config": _config(r)} for r in rows], ["config"], "qps", "index", path,
                     title=f"nash_index exact Hamming k-NN, {data} codes ({simd})", xlabel="queries / second (log)")


def plot_bars(records: Sequence[Row], label_keys: Sequence[str], value_key: str, series_key: str, path: Path,
              title: str = "", log: bool = True, xlabel: Optional[str] = None) -> bool:
    """Horizontal grouped bars: one row group per distinct ``label_keys`` (labels read horizontally,
    in the records' order, top to bottom), one bar per ``series_key``; a log axis spans whole
    decades. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    label = lambda r: " ".join(str(r[k]) for k in label_keys)  # noqa: E731
    labels = list(dict.fromkeys(label(r) for r in records))
    series = list(dict.fromkeys(str(r[series_key]) for r in records))
    values = {s: [np.nan] * len(labels) for s in series}
    for r in records:
        if r.get(value_key) is not None:
            values[str(r[series_key])][labels.index(label(r))] = float(r[value_key])
    height = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.28 * len(labels) * len(series) + 0.25 * len(labels)))
    y = np.arange(len(labels))
    for i, s in enumerate(series):
        ax.barh(y + i * height, values[s], height, label=s)
    ax.set_yticks(y + height * (len(series) - 1) / 2)
    ax.set_yticklabels(labels, fontsize=9)
    ax.invert_yaxis()  # first configuration on top, as in the printed table
    ax.set_xlabel(xlabel or value_key)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(*log_limits(v for vs in values.values() for v in vs))
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def finite(obj: Any) -> Any:
    """``obj`` with NaN / inf as None and numpy scalars, arrays and paths as Python values (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps_strict(payload: Any, indent: Optional[int] = 2) -> str:
    """JSON that strict parsers accept: non-finite numbers become null (allow_nan=False catches the rest)."""
    return json.dumps(finite(payload), indent=indent, allow_nan=False)


def machine_info() -> Dict[str, Any]:
    """The machine a benchmark ran on: CPUs (count and model), platform, architecture, Python, load."""
    info: Dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine(),
                            "processor": platform.processor(), "python": platform.python_version(),
                            "loadavg": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info
