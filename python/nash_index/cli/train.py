"""``nash-index train``: fit TF-IDF (or embed with ``--embeddings``) and a hasher on a corpus; writes a
model directory."""
from __future__ import annotations

import argparse
import time
from typing import Any, Dict

from ..pipeline import HashingPipeline
from ..text import AUTO_CANDIDATES, AUTO_HASHER, PIPELINE_HASHER, HasherSpec, canonical_hasher, hasher_names, training_spec
from ..text.auto_select import auto_summary
from .args import CLIError, add_corpus_options, add_torch_threads_option, code_length, non_negative_int, positive_float, positive_int
from .common import load_splits
from .embeddings import add_embeddings_option, require_embedder
from .splits import Splits

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("train", help="fit TF-IDF and train a hasher; writes a model directory",
                       description="Fit the TF-IDF vocabulary and train NASH (or a baseline) on the "
                                   "corpus's training split; the model directory can then build indexes.")
    add_corpus_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--bits", type=code_length, default=64, help="code length (default: 64)")
    p.add_argument("--hasher", default=PIPELINE_HASHER,
                   help=f"{AUTO_HASHER} (default, as HashingPipeline's): train {AUTO_CANDIDATES[1]}, then "
                        f"{AUTO_CANDIDATES[0]} warm-started from its codes (with the options below), keep the one with "
                        f"the higher validation precision@100 ({AUTO_CANDIDATES[0]} without validation labels); or one "
                        f"of {', '.join(hasher_names())} (each also hashes --embeddings vectors; the options below go "
                        f"to {', '.join(hasher_names(neural=True))})")
    add_embeddings_option(p)
    p.add_argument("--variant", choices=("nash", "nash-n", "nash-dn"), help="NASH variant (default: NASH's, nash-dn)")
    # None: NASH's own default (the library's defaults live in one place, models/nash.py)
    p.add_argument("--epochs", type=positive_int, default=None, help="maximum epochs (default: NASH's, 100)")
    p.add_argument("--patience", type=positive_int, default=None, help="early-stopping patience (default: NASH's, 6)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="mini-batch size (default: NASH's, 256)")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default: NASH's, 2e-3)")
    p.add_argument("--neighbours", type=non_negative_int, default=None,
                   help="neighbourhood reconstruction: decode each document's k nearest training documents "
                        "from its code; 0 turns it off (default: NASH's, 10)")
    p.add_argument("--max-features", type=positive_int, default=10000,
                   help="vocabulary size (default: 10000; unused with --embeddings)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    add_torch_threads_option(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (the summary and epoch table still print)")


def run(args: argparse.Namespace) -> int:
    """Fits TF-IDF (or the embedder) + hasher on the training split; the validation split selects a neural hasher's epoch."""
    require_embedder(args.embeddings)
    kind = canonical_hasher(args.hasher)  # ValueError naming the registered hashers
    spec = training_spec(kind)  # auto: its neural candidate's parameters
    params = _neural_params(args, spec) if spec.neural else {}
    raw = load_splits(args)
    pipe = HashingPipeline(nbits=args.bits, hasher=kind, hasher_params=params,
                           max_features=args.max_features, seed=args.seed, verbose=not args.quiet,
                           num_threads=args.threads, embedder=args.embeddings)
    labels, val_texts, val_labels = _training_labels(raw)
    t0 = time.perf_counter()
    pipe.fit(raw.train.texts, labels, val_texts=val_texts, val_labels=val_labels)
    _print_history(pipe)
    trained = pipe.hasher_kind
    if "auto" in pipe.train_info:
        print(auto_summary(pipe.train_info["auto"], with_count=True))  # which was kept, and why
        trained = f"{AUTO_HASHER} (kept {pipe.train_info['hasher']})"
    pipe.save(args.out)
    width = pipe.train_info["n_features"]
    features = f"{width}-dimensional {args.embeddings} embeddings" if args.embeddings else f"{width} terms"
    print(f"trained {trained} ({args.bits} bits) on {len(raw.train)} documents, {features}, "
          f"in {time.perf_counter() - t0:.1f} s; model written to {args.out}")
    return 0


def _neural_params(args: argparse.Namespace, spec: HasherSpec) -> Dict[str, Any]:
    """The model options given, as the neural hasher's parameters (unset ones: its own defaults).
    An option the hasher has no parameter for is refused."""
    given = dict(variant=args.variant, epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
                 lr=args.lr, neighbours=args.neighbours)
    params = dict(device=args.device, **{k: v for k, v in given.items() if v is not None})
    accepted = spec.param_names()
    refused = [name for name in params if name not in accepted]
    if refused:
        raise CLIError(f"--{refused[0].replace('_', '-')} does not apply to hasher {spec.name!r}")
    return params


def _training_labels(raw: Splits) -> tuple:
    """(labels, val_texts, val_labels): labels only when the corpus has any; validation = the
    validation split (the test split stays unseen for evaluation)."""
    if not raw.labelled:
        return None, None, None
    if not len(raw.val):
        return raw.train.labels, None, None
    return raw.train.labels, raw.val.texts, raw.val.labels


def _print_history(pipe: HashingPipeline) -> None:
    history = getattr(pipe.hasher, "history_", None)
    if not history:
        return
    print(f"{'epoch':>5}  {'loss':>10}  {'val loss':>10}  {'val P@100':>9}")
    for rec in history:
        vl = f"{rec['val_loss']:10.3f}" if "val_loss" in rec else f"{'-':>10}"
        vs = f"{rec['val_score']:9.4f}" if "val_score" in rec else f"{'-':>9}"
        print(f"{rec['epoch']:5d}  {rec['loss']:10.3f}  {vl}  {vs}")
    info = pipe.train_info
    if "best_epoch" in info:
        print(f"kept epoch {info['best_epoch']} of {info['epochs_run']} (criterion: {info['criterion']})")
        if info["criterion"] != "none" and info["best_epoch"] == info["epochs_run"] == getattr(pipe.hasher, "epochs", 0):
            print("note: validation was still improving at the last epoch; more --epochs (or a smaller --batch-size "
                  "on a small corpus) may help")
