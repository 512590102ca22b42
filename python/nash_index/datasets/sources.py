"""What a ``--corpus`` argument names: a benchmark corpus, the docstring corpus, or user files.

Accepted, in order:

* an existing path: a named corpus's archive or folder (``reuters21578.tar.gz``,
  ``20news-bydate``, ...), a ``.csv`` / ``.jsonl`` / ``.json`` file (a text column and optional
  label column; keys from ``key_column``, by default an ``id`` field when there is one, else
  ``<file>:<record number>``), a ``.txt`` file (one unlabelled document per line), or a folder with one
  subfolder per label;
* ``docstrings`` (also ``default``, ``pydoc``): the embedded corpus of Python docstrings;
* a corpus name (``reuters``, ``20ng``, ``tmc`` and their aliases), looked up in ``data_dir``,
  ``$NASH_INDEX_DATA`` and the per-user cache.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from . import newsgroups, reuters, tmc
from .corpus import RawCorpus
from .lines import split_lines
from .locate import CorpusNotFoundError, locate
from .registry import CORPORA, canonical_name, load_raw
from .user import load_csv, load_folder, load_jsonl

__all__ = ["CorpusOptions", "load_source", "available_named_corpus", "corpus_name_of", "DOCSTRING_NAMES"]

DOCSTRING_NAMES = ("docstrings", "default", "pydoc")
_LABEL_GUESSES = ("label", "labels", "category", "topic", "class")
#: A field a record is named by when no key column is given.
_DEFAULT_KEY = "id"


@dataclass(frozen=True)
class CorpusOptions:
    """How to read user files and how much of the docstring corpus to take."""

    data_dir: Optional[str] = None
    text_column: str = "text"
    label_column: Optional[str] = None
    test_fraction: float = 0.2
    max_docs: int = 8000
    seed: int = 0
    key_column: Optional[str] = None


def load_source(spec: str, opts: CorpusOptions = CorpusOptions()) -> RawCorpus:
    """The corpus a ``--corpus`` value names (see the module docstring)."""
    path = Path(spec).expanduser()
    if path.exists():
        return _load_path(path, opts)
    if spec.strip().lower() in DOCSTRING_NAMES:
        from .docstrings import docstring_corpus

        return docstring_corpus(max_docs=opts.max_docs, test_fraction=min(0.5, opts.test_fraction), seed=opts.seed)
    try:
        name = canonical_name(spec)
    except ValueError:
        raise ValueError(f"unknown corpus {spec!r}: not an existing file or folder, and not one of "
                         f"{', '.join(CORPORA + DOCSTRING_NAMES[:1])}") from None
    return load_raw(name, opts.data_dir)


def _named_archive(path: Path) -> Optional[str]:
    for name in ("reuters", "20ng", "tmc"):
        if path.name in _archive_names(name):
            return name
    return None


def _load_path(path: Path, opts: CorpusOptions) -> RawCorpus:
    named = _named_archive(path)
    if named is not None:
        return load_raw(named, path)
    kw = dict(test_fraction=opts.test_fraction, seed=opts.seed)
    suffix = path.suffix.lower()
    if path.is_dir():
        return load_folder(path, **kw)
    if suffix in (".csv", ".jsonl", ".json", ".ndjson"):
        csv_file = suffix == ".csv"
        fields = _csv_header(path) if csv_file else _jsonl_fields(path)
        label = opts.label_column or _guess_label(fields)
        key = opts.key_column or (_DEFAULT_KEY if _DEFAULT_KEY in fields else None)
        load = load_csv if csv_file else load_jsonl
        return load(path, text_column=opts.text_column, label_columns=label, key_column=key, **kw)
    if suffix == ".txt":
        return _load_lines(path, opts)
    raise ValueError(f"cannot read corpus {path}: expected a folder, .csv, .jsonl or .txt file")


def corpus_name_of(spec: str) -> Optional[str]:
    """The benchmark corpus (``reuters``, ``20ng``, ``tmc``) a ``--corpus`` value names, by name or
    by its archive or folder; None for user files and the docstring corpus."""
    path = Path(spec).expanduser()
    if path.exists():
        return _named_archive(path)
    try:
        return canonical_name(spec)
    except ValueError:
        return None


def _guess_label(fields: List[str]) -> Optional[str]:
    return next((f for f in _LABEL_GUESSES if f in fields), None)


def _csv_header(path: Path) -> List[str]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh), [])
    except UnicodeDecodeError:
        return []  # the loader reports the file, line and byte


def _jsonl_fields(path: Path) -> List[str]:
    try:
        with open(path, encoding="utf-8", newline="\n") as fh:  # lines end at \n only (as the loader reads them)
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    return list(rec) if isinstance(rec, dict) else []
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []  # the loader reports the file, line and byte
    return []


def _load_lines(path: Path, opts: CorpusOptions) -> RawCorpus:
    """A text file with one document per non-empty line (no labels)."""
    import numpy as np

    # one document per line: cut at \n only (splitlines would also cut at U+2028, \x0c, \x85 ...)
    lines = [ln.strip() for ln in split_lines(path.read_bytes().decode("utf-8", errors="replace"))]
    keyed = [(f"{path.name}:{i}", ln) for i, ln in enumerate(lines, start=1) if ln]
    if len(keyed) < 2:
        raise ValueError(f"{path}: need at least 2 non-empty lines (one document per line)")
    order = np.random.default_rng(opts.seed).permutation(len(keyed))
    n_test = min(max(1, round(len(keyed) * opts.test_fraction)), len(keyed) - 1)
    test, train = sorted(order[:n_test]), sorted(order[n_test:])
    empty = np.zeros((0, 0), dtype=bool)
    return RawCorpus(name=path.stem, train_texts=[keyed[i][1] for i in train],
                     train_labels=np.zeros((len(train), 0), dtype=bool) if train else empty,
                     test_texts=[keyed[i][1] for i in test], test_labels=np.zeros((len(test), 0), dtype=bool),
                     label_names=[], train_keys=[keyed[i][0] for i in train],
                     test_keys=[keyed[i][0] for i in test], source=str(path))


def available_named_corpus(data_dir: Optional[str] = None, names: tuple = ("reuters", "20ng")) -> Optional[str]:
    """The first of ``names`` whose files are found (explicit folder, ``$NASH_INDEX_DATA``, cache)."""
    for name in names:
        archive = _archive_names(name)
        try:
            locate(name, archive, data_dir)
            return name
        except CorpusNotFoundError:
            continue
    return None


def _archive_names(name: str) -> tuple:
    module = {"reuters": reuters, "20ng": newsgroups, "tmc": tmc}[name]
    return tuple(getattr(module, "ARCHIVE_NAMES", ())) or tuple(getattr(module, "FOLDER_NAMES", ()))
