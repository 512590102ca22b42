"""The ``train``, ``build``, ``search``, ``evaluate`` and ``info`` subcommands of ``nash-index``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from .cli import CLIError
from .corpus_source import CorpusOptions, load_source
from .pipeline import HashingPipeline

__all__ = ["run_train", "run_build", "run_search", "run_evaluate", "run_info", "load_corpus_arg"]


def _say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def corpus_options(args: argparse.Namespace) -> CorpusOptions:
    """The corpus-reading options shared by the subcommands."""
    return CorpusOptions(data_dir=args.data_dir, text_column=args.text_column, label_column=args.label_column,
                         test_fraction=args.test_fraction, max_docs=args.max_docs,
                         seed=getattr(args, "seed", 0))


def load_corpus_arg(args: argparse.Namespace):
    """The :class:`RawCorpus` named by ``--corpus``, with a one-line summary printed."""
    raw = load_source(args.corpus, corpus_options(args))
    _say(f"corpus {raw.name}: {len(raw.train_texts)} train / {len(raw.test_texts)} test documents, "
         f"{len(raw.label_names)} labels  ({raw.source})", getattr(args, "quiet", False))
    return raw


def _set_torch_threads(n: Optional[int]) -> None:
    """Caps torch's intra-op threads; it reads OMP_NUM_THREADS when first imported."""
    if n is None:
        return
    if "torch" in sys.modules:
        raise CLIError("--torch-threads must be set before torch is imported")
    os.environ["OMP_NUM_THREADS"] = str(n)


def _load_model(path: str, **kw: Any) -> HashingPipeline:
    if not Path(path).exists():
        raise CLIError(f"no model directory at '{path}'")
    return HashingPipeline.load(path, **kw)


# ---- train -------------------------------------------------------------------------------
def run_train(args: argparse.Namespace) -> int:
    """Fits TF-IDF + hasher on the training split; the first half of the test split validates."""
    _set_torch_threads(args.torch_threads)
    raw = load_corpus_arg(args)
    params: Dict[str, Any] = {}
    kind = args.hasher.strip().lower()
    if kind == "nash":
        params = dict(variant=args.variant, epochs=args.epochs, patience=args.patience,
                      batch_size=args.batch_size, lr=args.lr, device=args.device)
    pipe = HashingPipeline(nbits=args.bits, hasher=kind, hasher_params=params,
                           max_features=args.max_features, seed=args.seed, verbose=not args.quiet)
    labels, val_texts, val_labels = _training_labels(raw)
    t0 = time.perf_counter()
    pipe.fit(raw.train_texts, labels, val_texts=val_texts, val_labels=val_labels)
    _print_history(pipe, args.quiet)
    pipe.save(args.out)
    _say(f"trained {pipe.hasher_kind} ({args.bits} bits) on {len(raw.train_texts)} documents, "
         f"{pipe.vectorizer.n_features} terms, in {time.perf_counter() - t0:.1f} s; model written to {args.out}",
         args.quiet)
    return 0


def _training_labels(raw) -> tuple:
    """(labels, val_texts, val_labels): labels only when the corpus has any; validation = the
    first half of the test split (the second half stays unseen for evaluation)."""
    if not raw.label_names or not raw.train_labels.any():
        return None, None, None
    n_val = len(raw.test_texts) // 2
    if n_val < 10:
        return raw.train_labels, None, None
    return raw.train_labels, raw.test_texts[:n_val], raw.test_labels[:n_val]


def _print_history(pipe: HashingPipeline, quiet: bool) -> None:
    history = getattr(pipe.hasher, "history_", None)
    if quiet or not history:
        return
    print(f"{'epoch':>5}  {'loss':>10}  {'val loss':>10}  {'val P@100':>9}")
    for rec in history:
        vl = f"{rec['val_loss']:10.3f}" if "val_loss" in rec else f"{'-':>10}"
        vs = f"{rec['val_score']:9.4f}" if "val_score" in rec else f"{'-':>9}"
        print(f"{rec['epoch']:5d}  {rec['loss']:10.3f}  {vl}  {vs}")
    info = pipe.train_info
    if "best_epoch" in info:
        print(f"kept epoch {info['best_epoch']} of {info['epochs_run']} (criterion: {info['criterion']})")


# ---- build -------------------------------------------------------------------------------
def run_build(args: argparse.Namespace) -> int:
    """Encodes a corpus with the model and writes a self-contained index directory."""
    pipe = _load_model(args.model)
    pipe.reset(index=args.index_type)
    pipe.verbose = not args.quiet
    raw = load_corpus_arg(args)
    texts, keys = _split_docs(raw, args.split)
    if not texts:
        raise CLIError(f"the {args.split} split of the corpus has no documents")
    t0 = time.perf_counter()
    pipe.add(texts, keys=keys)
    elapsed = time.perf_counter() - t0
    pipe.save(args.out)
    _say(f"indexed {pipe.ntotal} documents ({pipe.nbits}-bit codes, {type(pipe.index).__name__}) in "
         f"{elapsed:.1f} s ({pipe.ntotal / max(elapsed, 1e-9):,.0f} docs/s); index written to {args.out}",
         args.quiet)
    return 0


def _split_docs(raw, split: str) -> tuple:
    if split == "train":
        return list(raw.train_texts), list(raw.train_keys)
    if split == "test":
        return list(raw.test_texts), list(raw.test_keys)
    return list(raw.train_texts) + list(raw.test_texts), list(raw.train_keys) + list(raw.test_keys)


# ---- search ------------------------------------------------------------------------------
def run_search(args: argparse.Namespace) -> int:
    """Prints the k nearest documents of each query."""
    queries = list(args.queries) or _stdin_queries()
    if not queries:
        raise CLIError("no query given (pass query texts as arguments or on standard input)")
    pipe = _open_index(args.index, args.model)
    t0 = time.perf_counter()
    result = pipe.search(queries, k=args.k)
    elapsed = time.perf_counter() - t0
    for i, query in enumerate(queries):
        hits = result.hits(i)
        if args.json:
            print(json.dumps({"query": query, "results": [{"key": key, "distance": d, "id": j}
                                                          for key, d, j in hits]}))
            continue
        print(f"query: {query}")
        for rank, (key, d, j) in enumerate(hits, start=1):
            print(f"  {rank:3d}. d={d:<3d} {key}")
    if not args.json:
        print(f"({len(queries)} queries in {elapsed * 1e3:.1f} ms over {pipe.ntotal} documents)")
    return 0


def _stdin_queries() -> List[str]:
    if sys.stdin is None or sys.stdin.isatty():
        return []
    return [line.strip() for line in sys.stdin if line.strip()]


def _open_index(index_path: str, model_path: Optional[str]) -> HashingPipeline:
    """An index directory (checked against ``model_path`` if given), or an index file + model."""
    path = Path(index_path)
    if path.is_file():
        if model_path is None:
            raise CLIError(f"'{index_path}' is an index file; pass the model directory with --model")
        from .persistence import load as load_index

        pipe = _load_model(model_path)
        index = load_index(path)
        if index.nbits != pipe.nbits:
            raise CLIError(f"the index has {index.nbits}-bit codes but the model makes {pipe.nbits}-bit codes")
        pipe.index, pipe._keys = index, {int(i): str(i) for i in index.ids()}
        return pipe
    if not path.exists():
        raise CLIError(f"no index at '{index_path}'")
    pipe = HashingPipeline.load(path)
    if model_path is not None:
        _check_same_model(path, Path(model_path))
    return pipe


def _check_same_model(index_dir: Path, model_dir: Path) -> None:
    from .pipeline_io import read_manifest

    if not model_dir.exists():
        raise CLIError(f"no model directory at '{model_dir}'")
    a, b = read_manifest(index_dir), read_manifest(model_dir)
    model_files = [f for f in a["files"] if f not in ("index.nidx", "keys.npz")]
    if any(a["files"].get(f) != b["files"].get(f) for f in model_files):
        raise CLIError(f"the index '{index_dir}' was not built with the model '{model_dir}'")


# ---- evaluate ----------------------------------------------------------------------------
def run_evaluate(args: argparse.Namespace) -> int:
    """precision@k of the model and of baselines on the corpus's train (database) / test split."""
    from .evaluate import precision_at_k

    pipe = _load_model(args.model)
    raw = load_corpus_arg(argparse.Namespace(**{**vars(args), "quiet": args.json}))
    if not raw.label_names or not raw.test_labels.any():
        raise CLIError("evaluation needs a labelled corpus (this one has no labels)")
    queries, query_labels = _evaluation_queries(raw)
    rows = []
    X_db, X_q = pipe.transform(raw.train_texts), pipe.transform(queries)
    methods = [(pipe.hasher_kind, pipe.encoder)] + _baselines(args.baselines, pipe, X_db)
    for name, encoder in methods:
        t0 = time.perf_counter()
        p = precision_at_k(encoder.encode(X_db), raw.train_labels, encoder.encode(X_q), query_labels, args.k)
        rows.append({"method": name, "bits": pipe.nbits, "k": args.k, "index_order": p.index_order,
                     "expected": p.expected, "seconds": time.perf_counter() - t0})
    if args.json:
        print(json.dumps({"corpus": raw.name, "n_db": len(raw.train_texts), "n_queries": len(queries),
                          "results": rows}, indent=2))
        return 0
    print(f"precision@{args.k} over {len(queries)} queries against {len(raw.train_texts)} documents")
    print(f"{'method':<10} {'bits':>4}  {'ties by id':>10}  {'random ties':>11}")
    for r in rows:
        print(f"{r['method']:<10} {r['bits']:>4}  {r['index_order']:10.4f}  {r['expected']:11.4f}")
    print("(ties by id: the index's order; random ties: the expectation over random tie order)")
    return 0


def _evaluation_queries(raw) -> tuple:
    """The half of the test split that ``train`` did not use for validation (all of a small one)."""
    n_val = len(raw.test_texts) // 2
    if n_val < 10:
        return list(raw.test_texts), raw.test_labels
    return list(raw.test_texts[n_val:]), raw.test_labels[n_val:]


def _baselines(spec: str, pipe: HashingPipeline, X_db: Any) -> list:
    from .hashers import canonical_hasher, make_hasher

    names = [s.strip() for s in spec.split(",") if s.strip() and s.strip().lower() != "none"]
    out = []
    for name in names:
        kind = canonical_hasher(name)
        if kind == "nash":
            raise CLIError("--baselines takes classic baselines only (lsh, sph, sth, itq)")
        out.append((kind, make_hasher(kind, pipe.nbits, seed=pipe.seed).fit(X_db)))
    return out


# ---- info --------------------------------------------------------------------------------
def run_info(args: argparse.Namespace) -> int:
    """Version, SIMD level, threads, torch/CUDA, and which corpora are found."""
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return 0


def collect_info() -> Dict[str, Any]:
    """What ``nash-index info`` reports, as a dict."""
    import platform

    from . import __version__
    from .corpus_source import available_named_corpus
    from .datasets.locate import cache_dir
    from .runtime import detected_simd_level, get_num_threads, simd_level

    info: Dict[str, Any] = {
        "nash_index": __version__, "python": platform.python_version(), "platform": platform.platform(),
        "numpy": np.__version__, "simd_level": simd_level(), "simd_detected": detected_simd_level(),
        "threads": get_num_threads(), "cpu_count": os.cpu_count(),
        "multi_index_hashing": _has_module("nash_index.factory"),
    }
    info.update(_torch_info())
    info["cache_dir"] = str(cache_dir())
    info["NASH_INDEX_DATA"] = os.environ.get("NASH_INDEX_DATA", "")
    info["corpora_found"] = ", ".join(n for n in ("reuters", "20ng", "tmc")
                                      if available_named_corpus(None, (n,))) or "none"
    return info


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _torch_info() -> Dict[str, Any]:
    """torch's version and the default device (torch is imported by nash_index.models only)."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return {"torch": "not installed (training needs it: pip install 'nash_index[train]')", "cuda": False}
    from .models.training import select_device

    device = select_device("auto")
    return {"torch": version, "cuda": device.type == "cuda", "default_device": str(device)}
