"""Child-process docstring collector for :mod:`nash_index.datasets.docstrings` (not a public API).

``python -m nash_index.datasets.docstring_collector OUT.json.gz MODULE...`` imports each module (and its public
submodules), gathers the docstrings of the public objects it defines, and writes
``[[key, label, text], ...]`` sorted by key. Run it in a throw-away process: importing modules
can print, warn, or register handlers.
"""
from __future__ import annotations

import contextlib
import gzip
import importlib
import inspect
import io
import json
import pkgutil
import re
import sys
import warnings
from types import ModuleType
from typing import Dict, Iterator, List, Optional, Set, Tuple

#: Modules never imported: side effects on import, GUIs, tests, or no useful prose.
SKIP = frozenset({
    "antigravity", "this", "tkinter", "idlelib", "turtle", "turtledemo", "test", "tests", "testing",
    "lib2to3", "ensurepip", "venv", "pydoc_data", "encodings", "site", "sitecustomize",
    "usercustomize", "conftest", "setup", "msilib", "msvcrt", "winreg", "winsound", "nt",
    "__main__", "core", "distutils", "f2py", "conftest", "externals", "vendored", "pylab",
    "backends", "compat", "array_api_compat",
})
MAX_WORDS = 200        # words kept per docstring (the summary and description)
MAX_DOC_WORDS = 400    # words kept per document (a class with its methods)
MIN_DOC_WORDS = 15     # shorter documents carry too little to search by (and to train on)
MAX_MODULES_PER_PACKAGE = 600
#: Implementation modules labelled as the public module users know them by.
LABEL_ALIASES = {"posix": "os", "posixpath": "os", "genericpath": "os", "ntpath": "os",
                 "sre_compile": "re", "sre_parse": "re", "sre_constants": "re"}
#: Large packages whose documents are labelled by first-level subpackage (``scipy.stats``).
FINE_LABELS = frozenset({"numpy", "scipy", "sklearn", "matplotlib"})
_SECTION = re.compile(r"^\s*(Examples?|Parameters|Returns|Yields|Raises|See Also|Notes|References|"
                      r"Attributes|Methods|Other Parameters)\s*:?\s*$")


def clean_docstring(doc: str, min_words: int = 1) -> Optional[str]:
    """Summary and prose of a docstring: numpydoc sections and doctest lines removed, capped."""
    lines: List[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if _SECTION.match(line):
            break
        stripped = line.strip()
        if stripped.startswith((">>>", "...")) or set(stripped) <= set("-=~"):
            continue
        lines.append(stripped)
    words = " ".join(lines).split()
    if len(words) < min_words:
        return None
    return " ".join(words[:MAX_WORDS])


def _quiet_import(name: str) -> Optional[ModuleType]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except BaseException:  # ImportError, SystemExit, anything a module does on import
            return None


def _skipped(name: str) -> bool:
    return any(part.startswith("_") or part in SKIP or part.endswith("_test") for part in name.split("."))


def iter_modules(top: str) -> Iterator[ModuleType]:
    """``top`` and its public submodules (depth first, sorted), each imported quietly."""
    module = _quiet_import(top)
    if module is None:
        return
    yield module
    path = getattr(module, "__path__", None)
    if path is None:
        return
    names = sorted(m.name for m in pkgutil.walk_packages(path, top + ".", onerror=lambda _: None)
                   if not _skipped(m.name))[:MAX_MODULES_PER_PACKAGE]
    for name in names:
        sub = _quiet_import(name)
        if sub is not None:
            yield sub


def _public_members(module: ModuleType) -> List[Tuple[str, object]]:
    names = getattr(module, "__all__", None)
    if not isinstance(names, (list, tuple)):
        names = [n for n in vars(module) if not n.startswith("_")]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(set(map(str, names))):
            try:
                out.append((name, getattr(module, name)))
            except Exception:
                continue
    return out


def _defined_in(obj: object, top: str) -> bool:
    mod = getattr(obj, "__module__", None)
    return isinstance(mod, str) and mod.split(".")[0].lstrip("_") == top.lstrip("_")


def label_of(module_name: str) -> str:
    """The label of a module's documents: its top-level module (``email.utils`` -> ``email``),
    or for the large packages of :data:`FINE_LABELS` the first-level subpackage."""
    parts = module_name.split(".")
    if parts[0] in FINE_LABELS and len(parts) > 1:
        return ".".join(parts[:2])
    return LABEL_ALIASES.get(parts[0], parts[0])


def _title_words(name: str) -> str:
    """An identifier as words ("parsedate_to_datetime" -> "parsedate to datetime")."""
    return re.sub(r"[_.]+", " ", name).strip()


def _class_text(name: str, cls: type) -> Optional[str]:
    """A class as one document: its docstring, then each public method's name and docstring."""
    parts = []
    doc = cls.__doc__ if isinstance(cls.__doc__, str) else ""
    text = clean_docstring(doc) if doc else None
    if text:
        parts.append(f"{_title_words(name)}. {text}")
    for attr, member in sorted(vars(cls).items()):
        mdoc = getattr(member, "__doc__", None)
        if attr.startswith("_") or not inspect.isroutine(member) or not isinstance(mdoc, str):
            continue
        mtext = clean_docstring(mdoc, min_words=3)
        if mtext:
            parts.append(f"{_title_words(attr)}: {mtext}")
    words = " ".join(parts).split()
    return " ".join(words[:MAX_DOC_WORDS]) if len(words) >= MIN_DOC_WORDS else None


def _routine_text(name: str, obj: object) -> Optional[str]:
    doc = getattr(obj, "__doc__", None)
    text = clean_docstring(doc) if isinstance(doc, str) else None
    if text is None:
        return None
    text = f"{_title_words(name)}. {text}"
    return text if len(text.split()) >= MIN_DOC_WORDS else None


def collect(tops: List[str]) -> List[Tuple[str, str, str]]:
    """``(key, label, text)`` for the public modules, functions and classes of ``tops``.

    A class is one document (its docstring and its methods'), a function or a module another.
    Objects re-exported by several modules are kept once, as are identical texts.
    """
    seen_ids: Set[int] = set()
    seen_text: Set[str] = set()
    rows: Dict[str, Tuple[str, str, str]] = {}

    def add(key: str, label: str, obj: object, text: Optional[str]) -> None:
        if id(obj) in seen_ids:
            return
        seen_ids.add(id(obj))
        if text is None or text in seen_text:
            return
        seen_text.add(text)
        rows[key] = (key, label, text)

    for top in tops:
        if top in SKIP:
            continue
        for module in iter_modules(top):
            label = label_of(module.__name__)
            add(module.__name__, label, module, _routine_text(module.__name__.split(".")[-1], module))
            for name, obj in _public_members(module):
                if not (inspect.isclass(obj) or inspect.isroutine(obj)) or not _defined_in(obj, top):
                    continue
                text = _class_text(name, obj) if inspect.isclass(obj) else _routine_text(name, obj)
                add(f"{module.__name__}.{name}", label, obj, text)
    return [rows[k] for k in sorted(rows)]


def main(argv: List[str]) -> int:
    out, tops = argv[0], argv[1:]
    rows = collect(tops)
    with gzip.open(out, "wt", encoding="utf-8") as fh:
        json.dump(rows, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
