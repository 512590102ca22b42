"""What several subcommands share: messages, the corpus they read, the model they load."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..datasets import CorpusOptions, RawCorpus, load_source
from ..pipeline import HashingPipeline
from ..pipeline.pipeline import MIN_VALIDATION_DOCS
from .args import CLIError

__all__ = ["corpus_options", "load_corpus_arg", "load_model", "say", "validation_size"]


def say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def corpus_options(args: argparse.Namespace) -> CorpusOptions:
    """The corpus-reading options shared by the subcommands."""
    return CorpusOptions(data_dir=args.data_dir, text_column=args.text_column, label_column=args.label_column,
                         test_fraction=args.test_fraction, max_docs=args.max_docs,
                         seed=getattr(args, "seed", 0))


def load_corpus_arg(args: argparse.Namespace, quiet: bool = False) -> RawCorpus:
    """The :class:`RawCorpus` named by ``--corpus``, with a one-line summary printed unless ``quiet``
    (``--quiet`` hides progress bars only: the summary stays)."""
    raw = load_source(args.corpus, corpus_options(args))
    say(f"corpus {raw.name}: {len(raw.train_texts)} train / {len(raw.test_texts)} test documents, "
        f"{len(raw.label_names)} labels  ({raw.source})", quiet)
    return raw


def load_model(path: str, **kw: Any) -> HashingPipeline:
    """The pipeline (model directory) at ``path``."""
    if not Path(path).exists():
        raise CLIError(f"no model directory at '{path}'")
    return HashingPipeline.load(path, **kw)


def validation_size(raw: RawCorpus) -> int:
    """How many of the first test documents ``train`` validates on (the rest stay unseen, for
    ``evaluate``): half the test split, or none when that half is too small to select by."""
    n_val = len(raw.test_texts) // 2
    return n_val if n_val >= MIN_VALIDATION_DOCS else 0
