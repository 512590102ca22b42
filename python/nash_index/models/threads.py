"""Torch's intra-op thread count while the library trains or encodes.

torch starts one OpenMP thread per core. Training NASH runs small mini-batches whose
parallel regions are short, so with any other process on the machine those threads spin and
wait for each other: 3 epochs on Reuters took 120 s with torch's default threads and 8 s with
one (issue 15; ``bench/bench_threads.py`` measures it). The library therefore sets its own
count around ``fit`` and ``encode`` and gives the caller's setting back afterwards.

Only ``torch.set_num_threads`` is used: ``torch.set_num_interop_threads`` may be called once
per process, before any parallel work, so a library must leave it to the application.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from ..index.validation import check_num_threads

__all__ = ["DEFAULT_NUM_THREADS", "resolve_num_threads", "torch_threads"]

#: Threads used when ``num_threads`` is None. One: on 2 cores two threads were at best 1.5x
#: faster, and 3.6x slower (median) once another process kept a core busy (bench/results/threads.md).
DEFAULT_NUM_THREADS = 1


def resolve_num_threads(num_threads: Any) -> int:
    """``num_threads`` checked (an int in 1..1024, or None for :data:`DEFAULT_NUM_THREADS`)."""
    return check_num_threads(num_threads) or DEFAULT_NUM_THREADS


@contextlib.contextmanager
def torch_threads(num_threads: Any) -> Iterator[int]:
    """Runs the block with torch's intra-op threads set to ``num_threads`` (None: the default)
    and restores the previous count on the way out, exceptions included.

    The count is global to the process: two threads training at once share one setting.
    """
    wanted = resolve_num_threads(num_threads)
    previous = torch.get_num_threads()
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
