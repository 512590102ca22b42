"""User corpora: a folder of text files (one subfolder per label), CSV, or JSON Lines.

All three return a :class:`RawCorpus`. Without an explicit split, documents are split at random
(``test_fraction``, ``seed``) into train and test; :func:`vdsh_preprocess` then halves the test part
into validation and test as for the benchmark corpora. Labels are optional: a corpus without labels
gets zero label columns (encoding works; precision cannot be measured).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..evaluation.labels import indicator_from_label_sets
from .corpus import RawCorpus
from .lines import decode_utf8, utf8_lines
from .locate import PathLike

LabelSpec = Union[None, str, Sequence[str]]


def _as_list(spec: LabelSpec) -> List[str]:
    if spec is None:
        return []
    return [spec] if isinstance(spec, str) else list(spec)


def _cell_labels(value: Any, sep: Optional[str]) -> List[str]:
    """Labels held by one cell: a list (JSON), or a string optionally split on ``sep``; empty = none."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    parts = text.split(sep) if sep else [text]
    return [p.strip() for p in parts if p.strip()]


def _split_records(name: str, texts: List[str], label_sets: List[List[str]], keys: List[str],
                   splits: Optional[List[str]], test_fraction: float, seed: int, source: str) -> RawCorpus:
    n = len(texts)
    if n < 2:
        raise ValueError(f"{source}: need at least 2 documents, found {n}")
    if splits is None:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        order = np.random.default_rng(seed).permutation(n)
        n_test = min(max(1, round(n * test_fraction)), n - 1)
        is_test = np.zeros(n, dtype=bool)
        is_test[order[:n_test]] = True
    else:
        bad = sorted({s for s in splits if s not in ("train", "test")})
        if bad:
            raise ValueError(f"{source}: split values must be 'train' or 'test', found {bad}")
        is_test = np.asarray([s == "test" for s in splits], dtype=bool)
    names = sorted({lab for labs in label_sets for lab in labs})
    y = indicator_from_label_sets(label_sets, names)
    tr, te = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    return RawCorpus(
        name=name,
        train_texts=[texts[i] for i in tr], train_labels=y[tr],
        test_texts=[texts[i] for i in te], test_labels=y[te],
        label_names=names, train_keys=[keys[i] for i in tr], test_keys=[keys[i] for i in te],
        source=source,
    )


def load_folder(path: PathLike, test_fraction: float = 0.2, seed: int = 0, encoding: str = "utf-8",
                name: Optional[str] = None) -> RawCorpus:
    """Folder with one subfolder per label, each holding one text file per document.

    If the folder instead holds ``train/`` and ``test/`` subfolders (each with label subfolders),
    that split is used. Files are decoded with ``encoding`` (undecodable bytes replaced).
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    has_split = (root / "train").is_dir() and (root / "test").is_dir()
    bases = [("train", root / "train"), ("test", root / "test")] if has_split else [(None, root)]
    texts: List[str] = []
    labels: List[List[str]] = []
    keys: List[str] = []
    splits: List[str] = []
    for split, base in bases:
        for label_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = (p for p in label_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
            for f in sorted(files):  # hidden files (.DS_Store, editor swap files) are not documents
                texts.append(f.read_bytes().decode(encoding, errors="replace"))
                labels.append([label_dir.name])
                keys.append(f.relative_to(root).as_posix())
                splits.append(split or "")
    if not texts:
        raise ValueError(f"{root}: no documents found; expected <folder>/<label>/<file> (or train/ and test/ above them)")
    return _split_records(name or root.name, texts, labels, keys, splits if has_split else None,
                          test_fraction, seed, str(root))


def _records_to_corpus(records: List[Dict[str, Any]], source: str, text_column: str, label_columns: LabelSpec,
                       label_sep: Optional[str], split_column: Optional[str], test_fraction: float,
                       seed: int, name: Optional[str], key_column: Optional[str] = None) -> RawCorpus:
    cols = _as_list(label_columns)
    texts, labels, keys, splits = [], [], [], []
    for i, rec in enumerate(records):
        if text_column not in rec:
            raise ValueError(f"{source}: record {i + 1} has no {text_column!r} field (fields: {sorted(rec)})")
        texts.append("" if rec[text_column] is None else str(rec[text_column]))
        labs: List[str] = []
        for c in cols:
            if c not in rec:
                raise ValueError(f"{source}: record {i + 1} has no label field {c!r}")
            labs.extend(_cell_labels(rec[c], label_sep))
        labels.append(sorted(set(labs)))
        if key_column is None:
            keys.append(f"{Path(source).name}:{i + 1}")
        elif rec.get(key_column) is None:
            raise ValueError(f"{source}: record {i + 1} has no key field {key_column!r}")
        else:
            keys.append(str(rec[key_column]))
        if split_column is not None:
            splits.append(str(rec.get(split_column, "")).strip().lower())
    return _split_records(name or Path(source).stem, texts, labels, keys, splits if split_column else None,
                          test_fraction, seed, source)


def load_csv(path: PathLike, text_column: str = "text", label_columns: LabelSpec = None,
             label_sep: Optional[str] = None, split_column: Optional[str] = None, test_fraction: float = 0.2,
             seed: int = 0, delimiter: str = ",", name: Optional[str] = None,
             key_column: Optional[str] = None) -> RawCorpus:
    """CSV with a header row: ``text_column`` and optional label column(s).

    A label cell may hold several labels separated by ``label_sep``. ``split_column`` (values
    ``train``/``test``) fixes the split; otherwise it is random. ``key_column`` names each
    document (e.g. an ``id``); without it the key is ``<file>:<record number>``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    text = decode_utf8(p.read_bytes(), p)  # a bad byte names its line, not just a codec position
    records = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    return _records_to_corpus(records, str(p), text_column, label_columns, label_sep, split_column,
                              test_fraction, seed, name, key_column)


def load_jsonl(path: PathLike, text_column: str = "text", label_columns: LabelSpec = None,
               label_sep: Optional[str] = None, split_column: Optional[str] = None, test_fraction: float = 0.2,
               seed: int = 0, name: Optional[str] = None, key_column: Optional[str] = None) -> RawCorpus:
    """JSON Lines: one object per line with ``text_column`` and optional label field(s) (string or
    list); ``key_column`` as in :func:`load_csv`."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    records = []
    for i, line in enumerate(utf8_lines(p), start=1):  # lines end at \n only: U+2028 may sit in a JSON string
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}:{i}: not valid JSON: {exc}") from exc
        if not isinstance(rec, dict):
            raise ValueError(f"{p}:{i}: each line must be a JSON object")
        records.append(rec)
    return _records_to_corpus(records, str(p), text_column, label_columns, label_sep, split_column,
                              test_fraction, seed, name, key_column)
