"""What several subcommands share: messages, the corpus they read, the model they load."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..datasets import CorpusOptions, RawCorpus, load_source
from ..pipeline import HashingPipeline
from ..pipeline.compose import is_saved_model
from ..pipeline.storage import MANIFEST
from .args import CLIError
from .splits import Splits, split_corpus

__all__ = ["corpus_options", "load_corpus_arg", "load_model", "load_splits", "say"]


def say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def corpus_options(args: argparse.Namespace) -> CorpusOptions:
    """The corpus-reading options shared by the subcommands."""
    return CorpusOptions(data_dir=args.data_dir, text_column=args.text_column, label_column=args.label_column,
                         test_fraction=args.test_fraction, max_docs=args.max_docs,
                         seed=getattr(args, "seed", 0), key_column=getattr(args, "key_column", None))


def load_corpus_arg(args: argparse.Namespace, quiet: bool = False) -> RawCorpus:
    """The :class:`RawCorpus` named by ``--corpus``, with a one-line summary printed unless ``quiet``
    (``--quiet`` hides progress bars only: the summary stays)."""
    raw = _read_corpus(args)
    say(f"corpus {raw.name}: {len(raw.train_texts)} train / {len(raw.test_texts)} test documents, "
        f"{len(raw.label_names)} labels  ({raw.source})", quiet)
    return raw


def load_splits(args: argparse.Namespace, quiet: bool = False) -> Splits:
    """The train / validation / test split of ``--corpus`` (see :mod:`.splits`), summarised on one line
    unless ``quiet`` (machine-readable output)."""
    split = split_corpus(_read_corpus(args), args.corpus, args)
    say(split.summary(), quiet)
    return split


def _read_corpus(args: argparse.Namespace) -> RawCorpus:
    """``load_source`` of ``--corpus``; a reader's error about the file itself (its messages start
    with the path: ``FILE: line N: ...``) is reported as one about the option."""
    try:
        return load_source(args.corpus, corpus_options(args))
    except ValueError as exc:
        message = str(exc)
        if message.startswith(str(Path(args.corpus).expanduser())):
            raise CLIError(f"--corpus {message}") from None
        raise


def load_model(path: str, vectorizer: Any = None, **kw: Any) -> HashingPipeline:
    """The pipeline (model directory) at ``path``: one saved by ``train`` / ``HashingPipeline.save``,
    or a model saved by ``NASH.save`` with its vectorizer (``vectorizer``, else beside it)."""
    if not Path(path).exists():
        raise CLIError(f"no model directory at '{path}'")
    if not (Path(path) / MANIFEST).exists() and is_saved_model(path):
        try:
            return HashingPipeline.from_model(path, vectorizer)
        except ValueError as exc:  # a --vectorizer file that is not one names the option
            if isinstance(vectorizer, str) and vectorizer in str(exc):
                raise CLIError(f"--vectorizer {' '.join(str(exc).split())}") from None
            raise
    if vectorizer is not None:
        raise CLIError(f"'{path}' is a saved pipeline, which has its own vocabulary: drop --vectorizer")
    return HashingPipeline.load(path, **kw)
