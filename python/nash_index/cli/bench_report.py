"""The table and the PNG of ``nash-index bench`` (rows as ``nash_index.cli.bench`` measures them)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

__all__ = ["log_limits", "plot", "print_table"]

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


def log_limits(values: List[float]) -> tuple:
    """A log axis on whole decades around the positive values (never starting at an odd 5k)."""
    v = [x for x in values if x and x > 0 and math.isfinite(x)]
    if not v:
        return 1.0, 10.0
    lo, hi = math.floor(math.log10(min(v))), math.ceil(math.log10(max(v)))
    return 10.0 ** lo, 10.0 ** max(hi, lo + 1)


def _config(r: Row) -> str:
    n = f"{r['n'] / 1e6:g}M" if r["n"] >= 1_000_000 else f"{r['n']:,}"
    return f"N={n} {r['bits']}b k={r['k']} batch {r['batch']}, {r['threads']} thr"


def plot(rows: List[Row], path: Path, simd: str, data: str) -> bool:
    """Horizontal grouped bars: one group per configuration (labels read horizontally), one bar per
    index; queries/s on a log axis spanning whole decades. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    configs = list(dict.fromkeys(_config(r) for r in rows))
    indexes = list(dict.fromkeys(r["index"] for r in rows))
    height = 0.8 / len(indexes)
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.25 * len(rows) + 0.2 * len(configs)))
    for j, name in enumerate(indexes):
        mine = {_config(r): r["qps"] for r in rows if r["index"] == name}
        ys = [i + j * height for i, c in enumerate(configs) if c in mine]
        ax.barh(ys, [mine[c] for c in configs if c in mine], height, label=name)
    ax.set_yticks([i + height * (len(indexes) - 1) / 2 for i in range(len(configs))])
    ax.set_yticklabels(configs, fontsize=9)
    ax.invert_yaxis()  # the table's order, top to bottom
    ax.set_xscale("log")
    ax.set_xlim(*log_limits([r["qps"] for r in rows]))
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("queries / second (log)")
    ax.set_title(f"nash_index exact Hamming k-NN, {data} codes ({simd})", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
