"""``nash-index demo``: the whole job end to end, on a CPU, in about a minute.

Fit TF-IDF (or embed with --embeddings minilm), train NASH at 32 and 64 bits (--full: 16, 32, 64
and 128) to convergence (early stopping on validation precision; the lengths side by side in
worker processes of one torch thread each), build the index, run the test queries, and report
precision@100 next to PCA-ITQ and LSH at the same lengths on the same vectors and next to exact
float cosine (no hashing), query latency and throughput of the saved pipeline as served, a few
example queries with their nearest documents, and a plot (precision vs bits, latency breakdown)
saved as PNG.

Data: ``--corpus`` if given; else Reuters-21578 or 20 Newsgroups when their files are found
(``--data-dir``, ``$NASH_INDEX_DATA``, the per-user cache); else the embedded default, the
docstrings of the installed Python standard library, numpy, scipy, scikit-learn and matplotlib
(:mod:`nash_index.datasets.docstrings`), which needs no download.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from ..datasets import available_named_corpus, load_source
from ..evaluation import cosine_precision_at_k, precision_at_k
from ..pipeline import HashingPipeline
from ..text import DEFAULT_HASHER, canonical_hasher, display_name, make_hasher
from .args import add_corpus_options, add_torch_threads_option, code_length, list_of, positive_int
from .common import corpus_options
from .demo_report import example_queries, headline, main_bits, plot_demo, print_examples, print_summary
from .demo_train import LengthJob, default_jobs, describe, pipeline_dir, train_lengths
from .embeddings import add_embeddings_option, require_embedder

__all__ = ["add_parser", "choose_corpus", "run"]

MAX_QUERIES = 1000     # test documents used as queries
LATENCY_QUERIES = 200  # single-query calls timed
DEFAULT_BITS = [32, 64]       # the headline length and the next shorter: about a minute on 2 cores
FULL_BITS = [16, 32, 64, 128]  # --full


def add_parser(sub: Any) -> None:
    """Registers ``demo`` on the ``nash-index`` subparsers."""
    p = sub.add_parser("demo", help="end-to-end demo: train NASH, index, search, compare with PCA-ITQ, LSH and float cosine",
                       description=__doc__.split("\n\n")[1])
    add_corpus_options(p, required=False)
    p.add_argument("--bits", type=list_of(code_length), default=None,
                   help="code lengths of NASH and of the baselines; the headline speaks of 64 when given, "
                        "else of the first (default: 32,64)")
    p.add_argument("--full", action="store_true", help="the full table: NASH and the baselines at 16,32,64,128 bits")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="NASH lengths trained side by side, one process each (default: one per length, "
                        "at most one per usable CPU divided by --threads)")
    add_embeddings_option(p)
    # a cap only: early stopping on validation ends training (16-bit codes on the docstrings, in
    # batches of 64, were still improving at epoch 98 of 100)
    p.add_argument("--epochs", type=positive_int, default=200,
                   help="maximum NASH epochs; early stopping on validation ends training first (default: 200)")
    # 10, not NASH's 6: with batches of 256, 16-bit codes on the docstrings dip below epoch 1's
    # validation score for five epochs before they climb (patience 5 stopped them at 0.04)
    p.add_argument("--patience", type=positive_int, default=10,
                   help="early stopping: epochs without a better validation precision (default: 10)")
    p.add_argument("--k", type=positive_int, default=100, help="precision cut-off (default: 100)")
    p.add_argument("--baselines", default="itq,lsh",
                   help="baselines at the same lengths: itq, lsh, sth, sph, or none (default: itq,lsh)")
    p.add_argument("--query", action="append", metavar="TEXT", help="an example query (repeatable)")
    p.add_argument("--out", default="nash_index_demo", metavar="DIR",
                   help="where demo.png, demo.json and the pipeline go (default: ./nash_index_demo)")
    add_torch_threads_option(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (the report still prints; bars are drawn only on a terminal, "
                        "when the lengths train in one process)")


def demo_bits(args: argparse.Namespace) -> List[int]:
    """The lengths to run: --bits, else --full's four, else the default two (duplicates dropped)."""
    bits = args.bits if args.bits is not None else (FULL_BITS if args.full else DEFAULT_BITS)
    return list(dict.fromkeys(bits))


def choose_corpus(args: argparse.Namespace):
    """(RawCorpus, description): ``--corpus``, else a named corpus found on disk, else docstrings."""
    opts = corpus_options(args)
    if args.corpus:
        raw = load_source(args.corpus, opts)
        return raw, f"{raw.name} ({raw.source})"
    named = available_named_corpus(args.data_dir)
    if named is not None:
        raw = load_source(named, opts)
        return raw, f"{raw.name}, a real corpus found at {raw.source}"
    raw = load_source("docstrings", opts)
    return raw, (f"the embedded default corpus: {raw.source}, labelled by module "
                 f"(no real corpus found; pass --corpus or set NASH_INDEX_DATA)")


def _queries(raw) -> tuple:
    n = min(MAX_QUERIES, len(raw.test_texts))
    return list(raw.test_texts[:n]), raw.test_labels[:n]


def _precision(encoder: Any, X_db: Any, y_db: np.ndarray, X_q: Any, y_q: np.ndarray, k: int) -> Dict[str, float]:
    p = precision_at_k(encoder.encode(X_db), y_db, encoder.encode(X_q), y_q, k)
    return {"index_order": p.index_order, "expected": p.expected}


def _baseline_rows(names: Sequence[str], bits: Sequence[int], X_db: Any, X_q: Any, raw, y_q: np.ndarray, k: int,
                   seed: int, skipped: List[str]) -> List[Dict[str, Any]]:
    """One row per baseline and length; a length the data cannot support (e.g. PCA-ITQ with more
    bits than features) is left out and its reason appended to ``skipped``."""
    rows = []
    for name in names:
        for nbits in bits:
            t0 = time.perf_counter()
            try:
                hasher = make_hasher(name, nbits, seed=seed).fit(X_db)
            except ValueError as exc:
                skipped.append(f"{display_name(name)} {nbits} bits: {exc}")
                continue
            train_s = time.perf_counter() - t0
            p = _precision(hasher, X_db, raw.train_labels, X_q, y_q, k)
            rows.append({"method": name, "bits": nbits, **p, "train_s": train_s})
    return rows


def _cosine(X_db: Any, y_db: np.ndarray, X_q: Any, y_q: np.ndarray, k: int) -> Dict[str, Any]:
    t0 = time.perf_counter()
    p = cosine_precision_at_k(X_db, y_db, X_q, y_q, k)
    return {"precision": p, "seconds": time.perf_counter() - t0}


def _latency(pipe: Any, queries: List[str], k: int = 10) -> Dict[str, float]:
    """Single-query latency split into vectorize / encode / search, and batch throughput."""
    count = min(LATENCY_QUERIES, len(queries))
    parts = np.zeros((count, 3))
    for i in range(count):
        t0 = time.perf_counter()
        X = pipe.transform(queries[i:i + 1])
        t1 = time.perf_counter()
        codes = pipe.encoder.encode(X)
        t2 = time.perf_counter()
        pipe.index.search(codes, k)
        parts[i] = (t1 - t0, t2 - t1, time.perf_counter() - t2)
    total = parts.sum(axis=1)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # a throughput measurement: queries without known terms do not matter here
        warnings.simplefilter("ignore", UserWarning)
        pipe.search(queries, k=k)
    batch_s = time.perf_counter() - t0
    return {"queries": count, "p50_ms": float(np.percentile(total, 50) * 1e3),
            "p99_ms": float(np.percentile(total, 99) * 1e3),
            "vectorize_ms": float(np.median(parts[:, 0]) * 1e3), "encode_ms": float(np.median(parts[:, 1]) * 1e3),
            "search_ms": float(np.median(parts[:, 2]) * 1e3), "batch_queries": len(queries),
            "batch_qps": len(queries) / batch_s}


def run(args: argparse.Namespace) -> int:
    """The ``demo`` subcommand."""
    baselines = [canonical_hasher(b) for b in args.baselines.split(",") if b.strip() and b.strip() != "none"]
    baselines = [b for b in dict.fromkeys(baselines) if b != DEFAULT_HASHER]  # trained anyway
    bits = demo_bits(args)
    require_embedder(args.embeddings)
    t_start = time.perf_counter()
    raw, description = choose_corpus(args)
    if not raw.label_names or not raw.train_labels.any():
        raise ValueError("the demo needs a labelled corpus to measure precision")
    print(f"data: {description}")
    print(f"      {len(raw.train_texts)} documents to index, {len(raw.test_texts)} held-out queries, "
          f"{len(raw.label_names)} labels  (loaded in {time.perf_counter() - t_start:.1f} s)", flush=True)
    queries, y_q = _queries(raw)
    main = main_bits(bits)
    report: Dict[str, Any] = {"data": description, "n_db": len(raw.train_texts), "n_queries": len(queries),
                              "labels": len(raw.label_names), "k": args.k, "bits": bits, "main_bits": main,
                              "features": args.embeddings or "TF-IDF", "results": []}
    main_pipe = _train_nash(raw, queries, y_q, bits, main, args, report)
    print(f"baselines ({', '.join(display_name(b) for b in baselines) or 'none'}) at {', '.join(map(str, bits))} bits "
          f"and exact {report['features']} cosine, on the same vectors", flush=True)
    X_db, X_q = main_pipe.transform(raw.train_texts), main_pipe.transform(queries)
    report["skipped"] = []
    report["results"] += _baseline_rows(baselines, bits, X_db, X_q, raw, y_q, args.k, args.seed, report["skipped"])
    report["cosine"] = _cosine(X_db, raw.train_labels, X_q, y_q, args.k)
    report["headline"] = headline(report["results"], main, args.k, report["cosine"], report["features"])
    report["latency"] = _latency(main_pipe, queries)
    report["latency"]["bits"] = main
    report["index"] = type(main_pipe.index).__name__
    print_summary(report)
    texts = dict(zip(range(len(raw.train_texts)), raw.train_texts))
    examples = example_queries(raw.name, args.query, queries)
    print_examples(main_pipe, examples, texts)
    report["parent_cpu_s"] = time.process_time()  # this process's CPU seconds (the workers' are in their rows)
    _write_outputs(args, report, main_pipe)
    print(f"total time {time.perf_counter() - t_start:.1f} s")
    return 0


def _train_nash(raw: Any, queries: List[str], y_q: np.ndarray, bits: Sequence[int], main: int,
                args: argparse.Namespace, report: Dict[str, Any]) -> HashingPipeline:
    """NASH at every length (the headline one first: it is the one served), a line each as it
    finishes; returns the headline length's pipeline, loaded back as it is served (numpy only)."""
    order = [main] + sorted((b for b in bits if b != main), reverse=True)
    processes = args.jobs or default_jobs(len(order), args.threads)
    processes = min(processes, len(order))
    verbose = not args.quiet and processes == 1 and sys.stderr.isatty()  # bars only where they redraw in place
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [LengthJob(nbits=b, seed=args.seed, epochs=args.epochs, patience=args.patience, threads=args.threads,
                      embeddings=args.embeddings, k=args.k, verbose=verbose,
                      save_to=str(pipeline_dir(out)) if b == main else None) for b in order]
    print(describe(jobs, processes), flush=True)

    def finished(row: Dict[str, Any]) -> None:
        print(f"{display_name(DEFAULT_HASHER)} {row['bits']:3d} bits: trained in {row['train_s']:.1f} s ({row['epochs']} "
              f"epochs, best {row['best_epoch']}), indexed {row['n_indexed']} documents in {row['build_s']:.2f} s, "
              f"precision@{args.k} = {row['index_order']:.3f}", flush=True)
        if not row["stopped_early"]:
            print(f"  note: stopped by the --epochs cap ({args.epochs}), not by early stopping; validation may "
                  "still have been improving (raise --epochs)", flush=True)

    rows = train_lengths(raw, queries, y_q, jobs, processes, finished)
    report["results"] += sorted(rows, key=lambda r: r["bits"])
    return HashingPipeline.load(pipeline_dir(out))


def _write_outputs(args: argparse.Namespace, report: Dict[str, Any], pipe: Any) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.json").write_text(json.dumps(report, indent=2, default=float, allow_nan=False))
    written = [str(out / "demo.json"), str(out / "pipeline")]
    if not args.no_plot and plot_demo(report, out / "demo.png"):
        written.insert(0, str(out / "demo.png"))
    print(f"wrote {', '.join(written)}")
    print(f"try:  nash-index search --index {out / 'pipeline'} \"your query\"")
