"""On-disk cache of processed corpora, keyed by the recipe parameters and the source's content.

A processed :class:`Corpus` is stored as one ``.npz`` file (sparse matrices as CSR parts; lists of
strings and ``info`` as JSON text: a fixed-width unicode array would take 4 bytes times the longest
string for every one, and drop trailing NULs) under ``<cache dir>/corpora/``. The key is a SHA-256 over the
recipe parameters and the SHA-256 of the source files, so changing either makes a new entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

import numpy as np
import scipy.sparse as sp

from ..atomic_io import atomic_file
from .corpus import Corpus
from .locate import cache_dir

_SPLITS = ("train", "val", "test")
_FORMAT = 2  # bump when the stored layout or the preprocessing code changes meaningfully


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, or of all files under a folder (relative names and contents, sorted)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                h.update(block)
    return h.hexdigest()


def cache_key(name: str, params: Dict[str, Any], sources: Iterable[Path]) -> str:
    """Key of a processed corpus: hash of name, recipe parameters and source contents."""
    payload = {
        "format": _FORMAT,
        "name": name,
        "params": params,
        "sources": [file_digest(Path(s)) for s in sources],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_path(name: str, key: str) -> Path:
    """Where the entry ``key`` of corpus ``name`` lives."""
    return cache_dir() / "corpora" / f"{name}-{key}.npz"


def save_corpus(corpus: Corpus, path: Path) -> None:
    """Write ``corpus`` to ``path`` atomically (temp file + rename), so readers never see half a file."""
    arrays: Dict[str, np.ndarray] = {
        "vocabulary": _json_text(corpus.vocabulary),
        "label_names": _json_text(corpus.label_names),
        "info": np.asarray(json.dumps(corpus.info, default=str)),
        "name": np.asarray(corpus.name),
    }
    for s in _SPLITS:
        X = getattr(corpus, f"X_{s}")
        arrays.update({f"X_{s}_data": X.data, f"X_{s}_indices": X.indices, f"X_{s}_indptr": X.indptr,
                       f"X_{s}_shape": np.asarray(X.shape, dtype=np.int64)})
        arrays[f"y_{s}"] = getattr(corpus, f"y_{s}")
        arrays[f"keys_{s}"] = _json_text(getattr(corpus, f"keys_{s}"))
    with atomic_file(path) as fh:
        np.savez_compressed(fh, **arrays)


def _json_text(strings: Iterable[str]) -> np.ndarray:
    return np.asarray(json.dumps([str(v) for v in strings]))


def _strings(stored: np.ndarray) -> list:
    values = json.loads(str(stored))
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("a cached list of strings is damaged")
    return values


def load_corpus_file(path: Path) -> Corpus:
    """Read a corpus written by :func:`save_corpus`."""
    with np.load(path, allow_pickle=False) as z:
        kw: Dict[str, Any] = {}
        for s in _SPLITS:
            shape = tuple(int(v) for v in z[f"X_{s}_shape"])
            kw[f"X_{s}"] = sp.csr_matrix((z[f"X_{s}_data"], z[f"X_{s}_indices"], z[f"X_{s}_indptr"]), shape=shape)
            kw[f"y_{s}"] = z[f"y_{s}"]
            kw[f"keys_{s}"] = _strings(z[f"keys_{s}"])
        return Corpus(
            name=str(z["name"]),
            vocabulary=_strings(z["vocabulary"]),
            label_names=_strings(z["label_names"]),
            info=json.loads(str(z["info"])),
            **kw,
        )


def cached(name: str, key: str) -> Optional[Corpus]:
    """The cached corpus for ``key``, or None (also None when the file is unreadable)."""
    path = cache_path(name, key)
    if not path.exists():
        return None
    try:
        return load_corpus_file(path)
    except (OSError, ValueError, KeyError):
        return None  # a corrupt entry is rebuilt rather than failing the caller
