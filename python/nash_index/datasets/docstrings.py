"""The embedded default corpus: docstrings of the standard library and installed packages.

Every machine that runs nash_index has Python's standard library (and numpy, usually scipy), and
their docstrings are real English text about a known subject: the module that defines them. One
document per public module, class, function or method docstring; its label is the top-level
module (``datetime``, ``email``, ``numpy``, ...) and its key the qualified name
(``email.utils.parsedate_to_datetime``), so "parse a date string" should find ``datetime`` and
``email.utils`` functions.

Collection imports many modules, so it runs in a child process (import side effects, prints and
warnings stay there) and its result is cached per Python and package versions under
``<cache dir>/demo/``. Modules that fail to import, have side effects on import (``antigravity``,
``this``, ``tkinter``, ``idlelib``, ``turtle``, ...) or are tests are skipped. The order is
deterministic, and the size is capped (per label and in total) so the demo stays fast.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..atomic_io import atomic_file

__all__ = ["DocRecord", "DEFAULT_PACKAGES", "DEMO_MODULES", "load_docstrings", "docstring_corpus"]

#: Installed packages added to the standard library by default (when importable).
DEFAULT_PACKAGES = ("numpy", "scipy", "sklearn", "matplotlib")
#: A small, fast-to-import subset of the standard library (tests and quick runs).
DEMO_MODULES = ("argparse", "collections", "csv", "datetime", "email", "gzip", "json", "logging",
                "math", "pathlib", "random", "re", "sqlite3", "statistics", "string", "urllib",
                "zipfile")
COLLECT_TIMEOUT_S = 300
_FORMAT = 4  # bump when the collection rules change (invalidates the cache)


@dataclass(frozen=True)
class DocRecord:
    """One docstring: ``key`` the qualified name, ``label`` its top-level module."""

    key: str
    label: str
    text: str


def _stdlib_names() -> List[str]:
    """Public top-level standard-library modules, sorted."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is None:  # Python 3.9
        import pkgutil
        import sysconfig

        found = {m.name for m in pkgutil.iter_modules([sysconfig.get_paths()["stdlib"]])}
        names = found | set(sys.builtin_module_names)
    return sorted(n for n in names if not n.startswith("_"))


def _cache_file(modules: Sequence[str]) -> Path:
    from importlib import metadata

    from .locate import cache_dir

    try:
        dists = metadata.packages_distributions()
    except Exception:  # Python 3.9, or broken metadata: the module names alone key the cache
        dists = {}
    versions = []
    for name in modules:
        try:  # stdlib modules have no distribution: the Python version covers them
            versions.append(name + "".join(f"={d}-{metadata.version(d)}" for d in sorted(dists.get(name, []))))
        except Exception:
            versions.append(name)
    payload = json.dumps([_FORMAT, sys.version, sys.platform, versions])
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return cache_dir() / "demo" / f"docstrings-{digest}.json.gz"


def _collect_in_child(modules: Sequence[str], out: Path, timeout: float) -> None:
    """Runs :mod:`nash_index.datasets.docstring_collector` in a child process, writing JSON to ``out``."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore", DISPLAY="")
    cmd = [sys.executable, "-m", "nash_index.datasets.docstring_collector", str(out), *modules]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=timeout, text=True)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"collecting docstrings took more than {timeout:.0f} s") from exc
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"collecting docstrings failed: {tail[0]}")


def _read_records(path: Path) -> List[DocRecord]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = json.load(fh)
    return [DocRecord(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def load_docstrings(modules: Optional[Sequence[str]] = None, *, packages: Sequence[str] = DEFAULT_PACKAGES,
                    use_cache: bool = True, timeout: float = COLLECT_TIMEOUT_S) -> List[DocRecord]:
    """Every collected docstring of ``modules`` (default: the standard library plus ``packages``).

    The result is cached; a second call with the same modules and versions reads the cache.
    """
    if modules is None:
        modules = _stdlib_names() + [p for p in packages if p not in _stdlib_names()]
    modules = list(dict.fromkeys(modules))
    path = _cache_file(modules)
    if use_cache and path.exists():
        try:
            return _read_records(path)
        except (OSError, ValueError, EOFError):
            pass  # a corrupt cache entry is rebuilt
    if not use_cache:
        with tempfile.TemporaryDirectory() as scratch:
            return _collect_records(modules, Path(scratch) / "docstrings.json.gz", timeout)
    with atomic_file(path) as fh:  # the child writes the temporary by name; it replaces the cache once read back
        return _collect_records(modules, Path(fh.name), timeout)


def _collect_records(modules: List[str], out: Path, timeout: float) -> List[DocRecord]:
    _collect_in_child(modules, out, timeout)
    return _read_records(out)


def _stable_rank(key: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def select_records(records: Sequence[DocRecord], max_docs: int, max_per_label: int, min_per_label: int,
                   seed: int = 0) -> List[DocRecord]:
    """A deterministic, label-balanced sample: at most ``max_per_label`` per label, labels with
    fewer than ``min_per_label`` documents dropped, then at most ``max_docs`` in all."""
    by_label: Dict[str, List[DocRecord]] = {}
    for rec in records:
        by_label.setdefault(rec.label, []).append(rec)
    kept: List[DocRecord] = []
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda r: _stable_rank(r.key, seed))[:max_per_label]
        if len(group) >= min_per_label:
            kept.extend(group)
    kept.sort(key=lambda r: _stable_rank(r.key, seed + 1))
    return sorted(kept[:max_docs], key=lambda r: r.key)


def docstring_corpus(modules: Optional[Sequence[str]] = None, *, packages: Sequence[str] = DEFAULT_PACKAGES,
                     max_docs: int = 8000, max_per_label: int = 200, min_per_label: int = 1,
                     min_query_label: int = 20, test_fraction: float = 0.1, seed: int = 0,
                     use_cache: bool = True):
    """The docstrings as a :class:`nash_index.datasets.RawCorpus` (single-label, random split).

    ``test_fraction`` of the documents become the test split (the queries), drawn only from
    labels with at least ``min_query_label`` documents: a module with 6 documents cannot fill a
    top 100, so its documents stay in the database, where they can still be found. Falls back to
    all labels when too few documents qualify.
    """
    from ..evaluation.labels import indicator_from_label_sets
    from .corpus import RawCorpus

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    records = select_records(load_docstrings(modules, packages=packages, use_cache=use_cache),
                             max_docs, max_per_label, min_per_label, seed)
    if len(records) < 2:
        raise ValueError("too few docstrings were collected to build a corpus")
    test_idx, train_idx = _split(records, test_fraction, min_query_label, seed)
    names = sorted({r.label for r in records})

    def part(idx: np.ndarray):
        recs = [records[i] for i in idx]
        return [r.text for r in recs], indicator_from_label_sets([[r.label] for r in recs], names), [r.key for r in recs]

    (tr_t, tr_y, tr_k), (te_t, te_y, te_k) = part(train_idx), part(test_idx)
    return RawCorpus(name="docstrings", train_texts=tr_t, train_labels=tr_y, test_texts=te_t,
                     test_labels=te_y, label_names=names, train_keys=tr_k, test_keys=te_k,
                     source=f"docstrings of {len(names)} modules (Python {sys.version.split()[0]})")


def _split(records: Sequence[DocRecord], test_fraction: float, min_query_label: int, seed: int) -> tuple:
    """(test, train) row indices, both in random order.

    Random, not sorted by key: keys sort by module, and the index breaks distance ties by
    ascending id, so a sorted database would leak label information into the ranking.
    """
    n = len(records)
    n_test = min(max(1, round(n * test_fraction)), n - 1)
    counts: Dict[str, int] = {}
    for r in records:
        counts[r.label] = counts.get(r.label, 0) + 1
    eligible = np.array([i for i, r in enumerate(records) if counts[r.label] >= min_query_label], dtype=np.int64)
    if eligible.size < 2 * n_test:
        eligible = np.arange(n)
    rng = np.random.default_rng(seed)
    test = rng.choice(eligible, size=n_test, replace=False)
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    train = np.flatnonzero(~is_test)
    return test, train[rng.permutation(train.size)]
