"""The work of each stage of ``bench_at_scale.py``, run in a child process of its own (``in_child``)
so that each stage's peak RSS is that child's ``VmHWM`` and the encoding children never import
torch. Every function returns a dict of plain numbers (it crosses the process boundary)."""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from at_scale_stages import log, peak_rss_gib


def in_child(fn: Callable[..., Dict[str, Any]], *args: Any, threads: int = 2) -> Dict[str, Any]:
    """``fn(*args)`` in a fresh (spawned) process limited to ``threads`` BLAS/OpenMP threads; its
    result plus the child's peak RSS and whether it imported torch."""
    saved = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({v: str(threads) for v in saved})  # read by the child's numpy at import
    try:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            return pool.submit(_measured, fn, args).result()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _measured(fn: Callable[..., Dict[str, Any]], args: Sequence[Any]) -> Dict[str, Any]:
    t0 = time.perf_counter()
    out = fn(*args)
    out.setdefault("inner_seconds", round(time.perf_counter() - t0, 3))
    out["peak_rss_gib"] = round(peak_rss_gib(), 3)
    out["imported_torch"] = "torch" in sys.modules
    return out


def corpus_batches(corpus_dir: str, batch: int, limit: Optional[int] = None):
    """(ids, texts, labels) batches of the corpus, in order; only its first ``limit`` documents."""
    import generate_corpus  # bench/generate_corpus.py (the corpus generator)

    done = 0
    for ids, texts, labels in generate_corpus.iter_corpus(Path(corpus_dir), batch):
        take = len(texts) if limit is None else min(len(texts), limit - done)
        if take <= 0:
            return
        yield np.asarray(ids)[:take].tolist(), list(texts[:take]), np.asarray(labels)[:take].tolist()
        done += take


def class_ids(labels: Sequence[Any], names: List[Any]) -> np.ndarray:
    """int32 class of each label (``names`` grows with new labels, in order of appearance)."""
    lookup = {name: i for i, name in enumerate(names)}
    out = np.empty(len(labels), dtype=np.int32)
    for i, label in enumerate(labels):
        if label not in lookup:
            lookup[label] = len(names)
            names.append(label)
        out[i] = lookup[label]
    return out


# ---- fit ------------------------------------------------------------------------------------
def fit_pipeline(sample_file: str, hasher: str, nbits: int, threads: int, seed: int, save_to: str,
                 hasher_params: Dict[str, Any]) -> Dict[str, Any]:
    """Fits a default HashingPipeline on the sample (texts + labels for early stopping) and saves it."""
    import json

    from nash_index import HashingPipeline

    sample = json.loads(Path(sample_file).read_text())
    pipe = HashingPipeline(nbits=nbits, hasher=hasher, num_threads=threads, seed=seed, verbose=False,
                           hasher_params=hasher_params or None)
    t0 = time.perf_counter()
    pipe.fit(sample["texts"], sample["labels"])
    seconds = time.perf_counter() - t0
    pipe.save(save_to)
    return {"fit_seconds": round(seconds, 3), "train_info": _plain(pipe.train_info), "training": _training(pipe)}


def _training(pipe: Any) -> Optional[Dict[str, Any]]:
    """NASH's epochs: cumulative seconds and validation score of each, the kept one, and the
    seconds before the first epoch (vocabulary, neighbour graph) apart."""
    result = getattr(pipe.hasher, "result_", None)
    if result is None:
        return None
    history = [{"epoch": int(h["epoch"]), "seconds": round(float(h["seconds"]), 3),
                "val_score": None if h.get("val_score") is None else round(float(h["val_score"]), 4)}
               for h in result.history]
    epoch_s = np.diff([0.0] + [h["seconds"] for h in history])
    info = pipe.train_info
    return {"epochs_run": len(history), "best_epoch": int(result.best_epoch), "criterion": result.criterion,
            "loop_seconds": round(float(result.seconds), 3),
            "before_loop_seconds": round(float(info["train_seconds"]) - float(result.seconds), 3),
            "epoch_seconds_median": round(float(np.median(epoch_s)), 3) if len(epoch_s) else None,
            "history": history}


def _plain(obj: Any) -> Any:
    """JSON-able copy of a train_info (numbers, strings, lists, dicts)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    return obj if isinstance(obj, (int, float, str, bool)) or obj is None else str(obj)


# ---- encode (torch-free, one process) ------------------------------------------------------------
def encode_corpus(pipe_dir: str, corpus_dir: str, n_docs: int, codes_file: str, labels_file: str,
                  batch: int, jobs: int = 1) -> Dict[str, Any]:
    """Encodes the first ``n_docs`` documents with the saved pipeline (numpy encoder; ``jobs`` worker
    processes, ``HashingPipeline.encode(n_jobs=...)``) into ``codes_file`` (.npy,
    written through a memory map), and their classes into ``labels_file`` if not there yet. The
    seconds spent reading the corpus are counted apart from vectorize + encode."""
    from nash_index import HashingPipeline

    pipe = HashingPipeline.load(pipe_dir)
    codes = np.lib.format.open_memmap(codes_file, mode="w+", dtype=np.uint8, shape=(n_docs, pipe.nbits // 8))
    want_labels = not Path(labels_file).exists()
    labels = np.empty(n_docs if want_labels else 0, dtype=np.int32)
    names: List[Any] = []
    done, encode_s, read_s, last_log = 0, 0.0, 0.0, time.monotonic()
    t_read = time.perf_counter()
    for ids, texts, batch_labels in corpus_batches(corpus_dir, batch, n_docs):
        t0 = time.perf_counter()
        read_s += t0 - t_read
        codes[done:done + len(texts)] = pipe.encode(texts, n_jobs=jobs)
        t_read = time.perf_counter()
        encode_s += t_read - t0
        if want_labels:
            labels[done:done + len(texts)] = class_ids(batch_labels, names)
        done += len(texts)
        if time.monotonic() - last_log > 30:
            log(f"  encode {Path(pipe_dir).name}: {done:,}/{n_docs:,} docs, {done / encode_s:,.0f} docs/s")
            last_log = time.monotonic()
    if done != n_docs:
        raise RuntimeError(f"the corpus holds {done} documents, expected {n_docs}")
    codes.flush()
    del codes
    if want_labels:
        np.save(labels_file, labels)
        Path(labels_file + ".names.json").write_text(__import__("json").dumps([str(n) for n in names]))
    return {"docs": done, "encode_seconds": round(encode_s, 3), "read_seconds": round(read_s, 3),
            "encode_docs_per_s": round(done / max(encode_s, 1e-9), 1)}


# ---- build ---------------------------------------------------------------------------------------
def build_index(codes_file: str, index_file: str) -> Dict[str, Any]:
    from nash_index import build_mih_file

    t0 = time.perf_counter()
    build_mih_file(codes_file, index_file, progress=True, dedup="auto")  # identical codes once when they repeat
    out = {"build_seconds": round(time.perf_counter() - t0, 3), "index_bytes": Path(index_file).stat().st_size}
    out.update(index_versus_flat(codes_file, index_file))
    return out


def index_versus_flat(codes_file: str, index_file: str, queries: int = 100, k: int = 10) -> Dict[str, Any]:
    """Single 10-NN queries (codes of documents drawn at random) on the built index (memory-mapped)
    and on a FlatIndex of the same codes, alternated; p50 of each, and whether every answer agrees."""
    import nash_index
    from nash_index.cli.bench import latency_stats

    codes = np.load(codes_file, mmap_mode="r")
    index = nash_index.load(index_file, mmap=True)
    flat = nash_index.FlatIndex(codes.shape[1] * 8)
    flat.add(np.ascontiguousarray(codes))
    rows = np.random.default_rng(0).choice(codes.shape[0], queries, replace=False)
    times: Dict[str, List[float]] = {"index": [], "flat": []}
    same = True
    for row in rows:
        q = np.ascontiguousarray(codes[row:row + 1])
        answers = []
        for name, ix in (("index", index), ("flat", flat)):
            t = time.perf_counter()
            answers.append(ix.search(q, k))
            times[name].append(time.perf_counter() - t)
        same = same and all(np.array_equal(a, b) for a, b in zip(*answers))
    index_ms, flat_ms = latency_stats(times["index"], 1)["p50_ms"], latency_stats(times["flat"], 1)["p50_ms"]
    return {"index_kind": index.kind, "duplicate_share": round(float(nash_index.duplicate_share(codes)), 4),
            "knn_index_p50_ms": index_ms, "knn_flat_p50_ms": flat_ms,
            "knn_speedup": round(flat_ms / max(index_ms, 1e-9), 1), "knn_equal_flat": bool(same)}


# ---- serve ---------------------------------------------------------------------------------------
def serve_queries(pipe_dir: str, index_file: str, queries: List[str], k: int) -> Dict[str, Any]:
    """Loads the pipeline and the MIH file (memory-mapped), then times one text query per call;
    checks that the single-query answers equal one batch call's."""
    import warnings

    import nash_index
    from nash_index import HashingPipeline
    from nash_index.cli.bench import latency_stats

    t0 = time.perf_counter()
    pipe = HashingPipeline.load(pipe_dir)
    pipe.attach_index(nash_index.load(index_file, mmap=True))
    load_s = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a query without known terms still counts
        for q in queries[:20]:
            pipe.search([q], k=k)  # warm-up: pages of the index and the model
        times, singles = [], []
        for q in queries:
            t = time.perf_counter()
            r = pipe.search([q], k=k)
            times.append(time.perf_counter() - t)
            singles.append(np.asarray(r.ids[0]))
        batch = pipe.search(queries, k=k)
    same = all(np.array_equal(s, np.asarray(b)) for s, b in zip(singles, batch.ids))
    stats = latency_stats(times, 1)
    return {"load_seconds": round(load_s, 3), "queries": len(queries), "p50_ms": stats["p50_ms"],
            "p99_ms": stats["p99_ms"], "single_equals_batch": bool(same)}


# ---- precision -------------------------------------------------------------------------------------
def code_precision(pipe_dir: str, codes_file: str, labels_file: str, queries: List[str], query_labels: List[int],
                   k: int) -> Dict[str, Any]:
    """precision@k of the held-out queries' codes against every document's (FlatIndex, ties by id:
    the project's default rule ``index_order``; ``expected`` beside it)."""
    from nash_index import HashingPipeline
    from nash_index.evaluation import precision_at_k

    pipe = HashingPipeline.load(pipe_dir)
    q_codes = pipe.encode(queries)
    p = precision_at_k(np.load(codes_file, mmap_mode="r"), np.load(labels_file), q_codes,
                       np.asarray(query_labels), k)
    return {"precision": round(p.index_order, 4), "precision_expected": round(p.expected, 4)}


def cosine_precision(pipe_dir: str, corpus_dir: str, n_docs: int, labels_file: str, queries: List[str],
                     query_labels: List[int], k: int, batch: int) -> Dict[str, Any]:
    """Exact TF-IDF cosine precision@k, the database streamed through the pipeline's vectorizer."""
    from at_scale_cosine import StreamedCosineTopK, label_precision
    from nash_index import HashingPipeline

    pipe = HashingPipeline.load(pipe_dir)
    top = StreamedCosineTopK(pipe.transform(queries), k)
    last_log = time.monotonic()
    for _, texts, _ in corpus_batches(corpus_dir, batch, n_docs):
        top.add(pipe.transform(texts))
        if time.monotonic() - last_log > 30:
            log(f"  cosine: {top.seen:,} docs")
            last_log = time.monotonic()
    precision = label_precision(top.ids, np.load(labels_file, mmap_mode="r"), np.asarray(query_labels), k)
    return {"precision": round(precision, 4), "docs": top.seen}
