"""Training the demo's NASH codes: one length per process, one torch thread each.

NASH trains to convergence (early stopping on validation precision) at every length the demo
reports; the lengths are independent, so on a machine with several cores they train side by side
in worker processes (``--jobs``), each scoring its own codes and the headline length saving its
pipeline for the parent to serve. One process per length and one torch thread per process keeps
the cores busy without oversubscribing them (the library's measured choice of threads, README).
Each finished length prints one line: the demo reads well in a log file, not only on a terminal.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..evaluation import precision_at_k
from ..pipeline import HashingPipeline
from ..text import DEFAULT_HASHER, display_name

__all__ = ["LengthJob", "default_jobs", "stopped_early", "train_lengths", "usable_cpus"]


@dataclass(frozen=True)
class LengthJob:
    """What one worker needs to train, index and score NASH at one length."""

    nbits: int
    seed: int
    epochs: int
    patience: int
    threads: Optional[int]
    embeddings: Optional[str]
    k: int
    verbose: bool
    save_to: Optional[str] = None  # the headline length's pipeline directory


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def default_jobs(lengths: int, threads: Optional[int]) -> int:
    """Processes that train side by side: one per length, as many as the usable CPUs hold at
    ``threads`` torch threads each (one when ``threads`` is None, the library's default)."""
    per_job = max(1, threads or 1)
    return max(1, min(lengths, usable_cpus() // per_job))


def stopped_early(info: Dict[str, Any], max_epochs: int, patience: int) -> bool:
    """Whether NASH stopped because validation stopped improving (``patience`` epochs without a
    better score), not because it ran out of epochs while it might still be improving."""
    run, best = info.get("epochs_run"), info.get("best_epoch")
    return run is not None and best is not None and (run < max_epochs or run - best >= patience)


def train_length(raw: Any, queries: Sequence[str], y_q: np.ndarray, job: LengthJob) -> Dict[str, Any]:
    """Trains NASH at ``job.nbits`` on ``raw``'s training texts, indexes them, scores the queries
    (precision@k, both tie rules) and saves the pipeline when ``job.save_to`` is set; returns the
    demo's result row (``cpu_s``: this length's CPU seconds, which a busy machine does not
    inflate as it does ``train_s``)."""
    cpu0 = time.process_time()
    pipe = HashingPipeline(nbits=job.nbits, hasher=DEFAULT_HASHER, seed=job.seed, verbose=job.verbose,
                           num_threads=job.threads, hasher_params={"epochs": job.epochs, "patience": job.patience},
                           embedder=job.embeddings)
    pipe.fit(raw.train_texts, raw.train_labels if raw.label_names else None)
    t0 = time.perf_counter()
    pipe.add(raw.train_texts, keys=raw.train_keys)
    build_s = time.perf_counter() - t0
    X_db, X_q = pipe.transform(raw.train_texts), pipe.transform(list(queries))
    p = precision_at_k(pipe.encoder.encode(X_db), raw.train_labels, pipe.encoder.encode(X_q), y_q, job.k)
    info = pipe.train_info
    if job.save_to is not None:
        pipe.save(job.save_to)
    return {"method": DEFAULT_HASHER, "bits": job.nbits, "index_order": p.index_order, "expected": p.expected,
            "train_s": info["train_seconds"], "epochs": info.get("epochs_run"), "best_epoch": info.get("best_epoch"),
            "stopped_early": stopped_early(info, job.epochs, job.patience), "build_s": build_s,
            "n_features": info["n_features"], "n_indexed": len(pipe), "cpu_s": time.process_time() - cpu0}


def _context() -> Any:
    """fork where the platform has it (the corpus and the imported modules are inherited, and torch
    is not yet loaded in the parent), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods and sys.platform != "darwin" else "spawn")


def train_lengths(raw: Any, queries: Sequence[str], y_q: np.ndarray, jobs: Sequence[LengthJob], processes: int,
                  report: Callable[[Dict[str, Any]], None]) -> List[Dict[str, Any]]:
    """Every job's result row, in the order of ``jobs``; ``report`` is called with each row as its
    length finishes. ``processes`` 1 trains in this process, one length after another."""
    if processes <= 1:
        rows = []
        for job in jobs:
            rows.append(train_length(raw, queries, y_q, job))
            report(rows[-1])
        return rows
    done: Dict[int, Dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=processes, mp_context=_context()) as pool:
        futures = {pool.submit(train_length, raw, queries, y_q, job): job.nbits for job in jobs}
        for future in as_completed(futures):
            row = future.result()
            done[futures[future]] = row
            report(row)
    return [done[job.nbits] for job in jobs]


def describe(jobs: Sequence[LengthJob], processes: int) -> str:
    """The line printed before training starts."""
    job = jobs[0]
    lengths = ", ".join(str(j.nbits) for j in jobs)
    how = (f"{processes} processes side by side" if processes > 1 else "one length after another")
    threads = job.threads or 1
    return (f"training {display_name(DEFAULT_HASHER)} at {lengths} bits ({how}, {threads} torch thread"
            f"{'s' if threads > 1 else ''} each): until validation precision stops improving for "
            f"{job.patience} epochs (at most {job.epochs})")


def pipeline_dir(out: Path) -> Path:
    """Where the headline length's pipeline is saved (and served from)."""
    return out / "pipeline"
