"""The report of ``bench_training_scale.py``: NASH's epochs at the largest sample, and precision@100
against training sample size (Markdown table and PNG)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional


def _largest_nash(points: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    nash = [p for p in points if p["hasher"] == "nash" and p.get("training")]
    top = max((p["sample"] for p in nash), default=None)
    return [p for p in nash if p["sample"] == top]


def training_markdown(report: Dict[str, Any]) -> str:
    points = report["points"]
    sizes = sorted({p["sample"] for p in points})
    series = sorted({(p["hasher"], p["nbits"]) for p in points}, key=lambda s: (s[1], s[0]))
    lines = [f"# Training at scale: {report['docs']:,} generated documents",
             "",
             f"`{report['command']}`; {report['threads']} threads. Each point: a default `HashingPipeline` fitted on "
             f"the first *s* documents, {report['db']:,} documents encoded as the database, {report['queries']} "
             f"held-out queries, precision@{report['k']} (ties by id). Machine shared: times are noisy.", "",
             "## precision@100 against training sample size", "",
             "| hasher | bits | " + " | ".join(f"{s:,}" for s in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for hasher, nbits in series:
        cells = []
        for s in sizes:
            p = _find(points, hasher, nbits, s)
            cells.append("-" if p is None else f"{p['precision']:.4f}")
        lines.append(f"| {hasher} | {nbits} | " + " | ".join(cells) + " |")
    lines += ["", "## Fit time (seconds) against sample size", "",
              "| hasher | bits | " + " | ".join(f"{s:,}" for s in sizes) + " |", "|---|---|" + "---|" * len(sizes)]
    for hasher, nbits in series:
        cells = ["-" if (p := _find(points, hasher, nbits, s)) is None else f"{p['fit_seconds']:.0f}" for s in sizes]
        lines.append(f"| {hasher} | {nbits} | " + " | ".join(cells) + " |")
    lines += ["", "## NASH's epochs (its own early stopping: best validation precision@100, patience and "
              "minimum steps of `nash_index.models.training`)", "",
              "| sample | bits | before 1st epoch s | s per epoch (median) | epochs run | best epoch | to convergence s |",
              "|---|---|---|---|---|---|---|"]
    for p in sorted((p for p in points if p["hasher"] == "nash" and p.get("training")),
                    key=lambda p: (p["nbits"], p["sample"])):
        t = p["training"]
        lines.append(f"| {p['sample']:,} | {p['nbits']} | {t['before_loop_seconds']:.0f} | "
                     f"{t['epoch_seconds_median']:.1f} | {t['epochs_run']} | {t['best_epoch']} | "
                     f"{t['before_loop_seconds'] + t['loop_seconds']:.0f} |")
    return "\n".join(lines)


def _find(points: List[Dict[str, Any]], hasher: str, nbits: int, size: int) -> Optional[Dict[str, Any]]:
    return next((p for p in points if p["hasher"] == hasher and p["nbits"] == nbits and p["sample"] == size), None)


def training_plot(report: Dict[str, Any], path: Path) -> bool:
    """Left: precision@100 against sample size (log x), one line per hasher and bits; right: the
    validation score of NASH's epochs at the largest sample."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    points = report["points"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    styles = {"nash": "-", "itq": "--"}
    for hasher, nbits in sorted({(p["hasher"], p["nbits"]) for p in points}):
        mine = sorted((p for p in points if p["hasher"] == hasher and p["nbits"] == nbits), key=lambda p: p["sample"])
        left.plot([p["sample"] for p in mine], [p["precision"] for p in mine], styles.get(hasher, ":"), marker="o",
                  label=f"{hasher} {nbits} bits")
    left.axvline(report["default_sample"], color="grey", linewidth=0.8)
    left.set_xscale("log")
    left.set_xlabel("training sample (documents)")
    left.set_ylabel(f"precision@{report['k']} ({report['db']:,} documents)")
    left.legend(fontsize=8)
    for p in _largest_nash(points):
        hist = p["training"]["history"]
        right.plot([h["seconds"] for h in hist], [h["val_score"] for h in hist], marker=".", label=f"{p['nbits']} bits")
    right.set_xlabel("seconds of training (epochs as dots)")
    right.set_ylabel("validation precision@100")
    right.set_title("NASH's epochs at the largest sample", fontsize=10)
    right.legend(fontsize=8)
    fig.suptitle(f"Training at scale: {report['docs']:,} documents, {report['threads']} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
