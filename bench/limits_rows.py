"""What every row of bench_limits shares: the run's context, the row record, medians of runs."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Context:
    """What a row function gets: the parsed arguments, faiss (or None), the cores to use and
    faiss's thread counts to try (its best is kept)."""

    args: Any
    faiss: Any
    cores: int
    thread_counts: List[int] = field(default_factory=list)


def median_of(runs: List[Dict], key: str, over: Optional[str] = None) -> Optional[float]:
    """Median over the runs of ``run[key]`` (or of ``run[key] / run[over]``, a ratio taken within
    each run); None when a run lacks the figure."""
    values = []
    for run in runs:
        a, b = run.get(key), (run.get(over) if over else 1.0)
        if a is None or b is None:
            return None
        values.append(a / b)
    return float(statistics.median(values)) if values else None


def row(group: str, shape: str, unit: str, ours: float, faiss: Optional[float], bound: Optional[float],
        x_bound: Optional[float], x_faiss: Optional[float], goal: str, met: bool, **extra: Any) -> Dict:
    """One line of the table.

    ``ours`` / ``faiss`` / ``bound`` are in ``unit``; ``x_bound`` is our time over the bound's time
    (1.0 = at the bound), ``x_faiss`` faiss's time over ours (2.0 = twice as fast as faiss); each a
    median of the per-run ratios. ``goal`` says the issue's target in words, ``met`` whether the
    medians reach it.
    """
    return dict(group=group, shape=shape, unit=unit, ours=ours, faiss=faiss, bound=bound, x_bound=x_bound,
                x_faiss=x_faiss, goal=goal, met=bool(met), **extra)
