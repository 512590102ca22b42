"""The train / validation / test split every subcommand reads a ``--corpus`` with.

Benchmark corpora (``reuters``, ``20ng``, ``tmc``) are split exactly as
:func:`nash_index.datasets.load_corpus` splits them (the VDSH recipe, seed 0: documents with too
few or too many in-vocabulary tokens and unlabelled test documents are dropped, the official test
split is halved into validation and test), so numbers from the CLI and from Python agree. User
corpora keep their train / test split, and the first half of the test split validates when it has
at least ``MIN_VALIDATION_DOCS`` documents (the rest stay unseen, as queries).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..datasets import Corpus, RawCorpus, corpus_name_of, load_corpus
from ..pipeline.pipeline import MIN_VALIDATION_DOCS

__all__ = ["Split", "Splits", "split_corpus"]


@dataclass
class Split:
    """One split: texts, bool label indicators (n, n_labels) and document keys."""

    texts: List[str]
    labels: np.ndarray
    keys: List[str]

    def __len__(self) -> int:
        return len(self.texts)

    def __add__(self, other: "Split") -> "Split":
        return Split(self.texts + other.texts, np.concatenate([self.labels, other.labels]), self.keys + other.keys)


@dataclass
class Splits:
    """A corpus as the CLI uses it: ``train`` is the database, ``val`` selects the training epoch,
    ``test`` holds the queries of ``evaluate``."""

    name: str
    source: str
    label_names: List[str]
    train: Split
    val: Split
    test: Split
    processed: Optional[Corpus] = None  #: a benchmark corpus's ``load_corpus`` result (its TF-IDF)

    @property
    def labelled(self) -> bool:
        return bool(self.label_names) and bool(self.train.labels.any())

    def summary(self) -> str:
        return (f"corpus {self.name}: {len(self.train)} train / {len(self.val)} validation / {len(self.test)} test "
                f"documents, {len(self.label_names)} labels  ({self.source})")


def split_corpus(raw: RawCorpus, spec: str, args: argparse.Namespace) -> Splits:
    """The CLI's split of ``raw``, the corpus that ``--corpus spec`` named."""
    name = corpus_name_of(spec)
    if name is not None:
        return _recipe_split(raw, name, spec, args)
    n_val = len(raw.test_texts) // 2
    n_val = n_val if n_val >= MIN_VALIDATION_DOCS else 0
    test = Split(list(raw.test_texts), raw.test_labels, list(raw.test_keys))
    return Splits(raw.name, raw.source, list(raw.label_names),
                  Split(list(raw.train_texts), raw.train_labels, list(raw.train_keys)),
                  _rows(test, slice(0, n_val)), _rows(test, slice(n_val, None)))


def _recipe_split(raw: RawCorpus, name: str, spec: str, args: argparse.Namespace) -> Splits:
    # Where the files are: the archive itself when --corpus is a path, else the usual look-up.
    where = spec if Path(spec).expanduser().exists() else args.data_dir
    corpus = load_corpus(name, where)
    texts = corpus.split_texts(raw)  # checks that ``raw`` is the corpus ``corpus`` was built from
    parts = {split: Split(texts[split], getattr(corpus, f"y_{split}"), list(getattr(corpus, f"keys_{split}")))
             for split in ("train", "val", "test")}
    return Splits(raw.name, raw.source, list(corpus.label_names), parts["train"], parts["val"], parts["test"], corpus)


def _rows(split: Split, rows: slice) -> Split:
    return Split(split.texts[rows], split.labels[rows], split.keys[rows])
