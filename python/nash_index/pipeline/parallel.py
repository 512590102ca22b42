"""Bulk TF-IDF encoding in worker processes: ``encode(..., n_jobs=2)`` of a :class:`HashingPipeline`.

Tokenizing and counting are Python work that one process does on one core. Batches of texts are
sent to ``n_jobs`` forked workers, each holding the vectorizer and the encoder from the fork (not
pickled) and limited to one BLAS thread (so ``n_jobs`` workers use ``n_jobs`` cores); each batch
is encoded by the very calls of the one-process path, so the codes are the same. Fork only: a
platform without it (or a pool that fails to start) raises, and ``n_jobs=1`` (the default) never
starts a process.
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Deque, Iterator, List, Optional, Tuple

import numpy as np

__all__ = ["batch_encoder", "encode_in_workers"]

_WORKER: Optional[Callable[[List[str]], Tuple[np.ndarray, np.ndarray]]] = None


def _start(encode_batch: Callable[[List[str]], Tuple[np.ndarray, np.ndarray]]) -> None:
    global _WORKER
    _WORKER = encode_batch
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it BLAS keeps its own default
        return
    threadpool_limits(1)


def _run(texts: List[str]) -> Tuple[np.ndarray, np.ndarray]:
    return _WORKER(texts)  # type: ignore[misc]


def encode_in_workers(encode_batch: Callable[[List[str]], Tuple[np.ndarray, np.ndarray]], texts: List[str],
                      batch_size: int, n_jobs: int) -> Iterator[Tuple[int, Tuple[np.ndarray, np.ndarray]]]:
    """``(start, encode_batch(texts[start:start + batch_size]))`` for every batch, in order,
    computed by ``n_jobs`` forked processes."""
    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError("n_jobs > 1 needs the 'fork' start method (Linux, macOS); use n_jobs=1")
    starts = iter(range(0, len(texts), batch_size))
    if texts:  # lazy imports and tables made here once are inherited by every fork (each worker
        encode_batch(texts[:1])  # made them itself, ~2 s per call, a third of 10,000 NASH encodes)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=_start, initargs=(encode_batch,)) as pool:
        pending: Deque[Tuple[int, Future]] = deque()
        for s in starts:  # at most 2 batches per worker in flight: the texts are not all copied at once
            pending.append((s, pool.submit(_run, texts[s:s + batch_size])))
            if len(pending) >= 2 * n_jobs:
                start, future = pending.popleft()
                yield start, future.result()
        while pending:
            start, future = pending.popleft()
            yield start, future.result()


def batch_encoder(vectorizer: Any, encoder: Any) -> Callable[[List[str]], Tuple[np.ndarray, np.ndarray]]:
    """What a worker runs on one batch: ``(codes, no-term mask)``."""
    from ..text.vectorizer import rows_without_terms

    def encode_batch(texts: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        rows = vectorizer.transform(texts, canonical=True)
        return encoder.encode(rows), rows_without_terms(rows)
    return encode_batch
