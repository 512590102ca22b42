"""The PNG of bench_limits: time over the measured bound per row (the bound is the line at 1),
and total q/s per caller count with the 90%-of-best line."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional


def plot(rows: List[Dict], path: Path) -> Optional[Path]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    bounded = [r for r in rows if r.get("x_bound") is not None]
    callers = [r for r in rows if r.get("share_of_best") is not None]
    panels = (1 if bounded else 0) + (1 if callers else 0)
    if not panels:
        return None
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 5), squeeze=False)
    axes = list(axes[0])
    if bounded:
        _bound_panel(axes.pop(0), bounded)
    if callers:
        _caller_panel(axes.pop(0), callers)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bound_panel(ax, rows: List[Dict]) -> None:
    labels = [f"{r['group']}\n{r['shape'].split(',')[0]}" for r in rows]
    x = range(len(rows))
    # CPU-second ratios where measured (a shared machine's time slices left out), else wall-clock
    ours = [r.get("x_bound_cpu") or r["x_bound"] for r in rows]
    ax.plot(x, ours, "o", color="C0", label="nash_index")
    # faiss's time over the bound: our ratio to the bound times faiss's time over ours
    fa = [(i, ours[i] * (r.get("x_faiss_cpu") or r["x_faiss"])) for i, r in enumerate(rows) if r.get("x_faiss")]
    if fa:
        ax.plot([i for i, _ in fa], [v for _, v in fa], "s", color="C1", label="faiss (best thread count)")
    ax.axhline(1.0, color="k", lw=1.5, label="measured bound (DRAM read / compute)")
    ax.axhline(1.25, color="k", lw=0.8, ls="--", label="single-query goal 1.25x")
    ax.axhline(2.0, color="grey", lw=0.8, ls=":", label="batch 64-bit goal 2x (50%)")
    ax.set_yscale("log")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("CPU seconds / the bound's (log; lower is better)")
    ax.set_title("flat scan against the measured bound")
    ax.legend(fontsize=7)


def _caller_panel(ax, rows: List[Dict]) -> None:
    for i, kind in enumerate(dict.fromkeys(r["kind"] for r in rows)):
        mine = [r for r in rows if r["kind"] == kind]
        c = [r["callers"] for r in mine]
        q = [r["ours"] for r in mine]
        ax.plot(c, q, "o-", color=f"C{i}", label=f"{kind}: total q/s")
        ax.axhline(0.9 * max(q), color=f"C{i}", lw=0.8, ls="--", label=f"{kind}: 90% of the best")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("Python threads calling search (single queries)")
    ax.set_ylabel("queries / second, all callers")
    ax.set_title("many callers")
    ax.legend(fontsize=7)
