"""``nash-index build``: encode a corpus with a model and write a searchable index directory."""
from __future__ import annotations

import argparse
import time
from typing import Any

from ..index import INDEX_KINDS
from .args import CLIError, add_corpus_options
from .common import load_corpus_arg, load_model

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("build", help="encode a corpus with a model and write a searchable index",
                       description="Encode every document of a corpus with a trained model and write "
                                   "a self-contained index directory (model + codes + document keys).")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory written by train")
    add_corpus_options(p)
    p.add_argument("--out", required=True, metavar="INDEX", help="index directory to write")
    p.add_argument("--split", choices=("all", "train", "test"), default="all",
                   help="which documents to index (default: all)")
    p.add_argument("--index-type", choices=INDEX_KINDS, default="auto",
                   help="flat scan or multi-index hashing (default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (the summary still prints)")


def run(args: argparse.Namespace) -> int:
    """Encodes a corpus with the model and writes a self-contained index directory."""
    pipe = load_model(args.model)
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
    print(f"indexed {pipe.ntotal} documents ({pipe.nbits}-bit codes, {type(pipe.index).__name__}) in "
          f"{elapsed:.1f} s ({pipe.ntotal / max(elapsed, 1e-9):,.0f} docs/s); index written to {args.out}")
    return 0


def _split_docs(raw, split: str) -> tuple:
    if split == "train":
        return list(raw.train_texts), list(raw.train_keys)
    if split == "test":
        return list(raw.test_texts), list(raw.test_keys)
    return list(raw.train_texts) + list(raw.test_texts), list(raw.train_keys) + list(raw.test_keys)
