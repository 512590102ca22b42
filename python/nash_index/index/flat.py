"""Exact Hamming search by brute force (SIMD xor + popcount over every code)."""
from __future__ import annotations

from .base import CoreIndex, register_kind

__all__ = ["FlatIndex"]


@register_kind("flat")
class FlatIndex(CoreIndex):
    """Exact k-NN / range search over packed binary codes by a full scan.

    >>> import numpy as np
    >>> codes = np.random.default_rng(0).integers(0, 256, size=(1000, 8), dtype=np.uint8)
    >>> queries = codes[:2]
    >>> index = FlatIndex(64)
    >>> index.add(codes)                 # uint8 (n, 8)
    >>> distances, ids = index.search(queries, k=10)
    >>> ids[:, 0], distances[:, 0]       # each query's nearest code is itself
    (array([0, 1]), array([0, 0], dtype=int32))

    Memory: n * code_size bytes for the codes, plus 8 bytes per code for ids
    unless they are 0..n-1. Searches are thread-safe and release the GIL;
    ``add``/``remove`` wait for running searches.

    Threads: a batch is shared between the pool's threads by queries; one query (or a few) by
    slices of the database, claimed by threads as they come free, but only while fewer flat
    searches run than the pool has threads. With more callers than cores each search runs on its
    calling thread, so that total throughput does not fall with the number of callers.
    ``num_threads`` caps the threads of each call in every case.

    Large batches (from 32 queries at AVX2; at AVX-512 from 32 to 384 by code width, about half
    as many over more than 16 MiB of codes: ``_core.sliced_batch_from``) scan the
    codes transposed into bit planes and count them with carry-save adders (6.2-8.7x faiss's
    ``IndexBinaryFlat`` at 64-1024 bits with AVX-512 in ``bench/results/limits_avx512.md``,
    3.3-7.6x with AVX2 in ``bench/results/limits_batch.md``); the results are the same.
    """
