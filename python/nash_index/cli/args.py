"""Argument types of the ``nash-index`` command line: a leaf (imports nothing of the package).

A user error is a :class:`CLIError` (one line on stderr, exit status 1); a bad option value is
an ``argparse.ArgumentTypeError`` (one line, exit status 2).
"""
from __future__ import annotations

import argparse
import os
from typing import Callable, List, NoReturn, Optional, TypeVar

__all__ = ["MAX_NEIGHBOURS", "CLIError", "Parser", "add_corpus_options", "code_length", "count", "fraction", "list_of",
           "neighbours", "positive_float", "positive_int", "threads", "torch_threads",
           "add_torch_threads_option"]

T = TypeVar("T")
_SUFFIX = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


class CLIError(Exception):
    """A user-facing error: reported as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _checked(text: str, convert: Callable[[str], T], valid: Callable[[T], bool], expected: str) -> T:
    """``convert(text)`` if it converts and is ``valid``; else one clear ArgumentTypeError."""
    try:
        value = convert(text)
    except (ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def _with_suffix(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    mult = _SUFFIX.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def count(text: str) -> int:
    """A positive count: ``"1M"`` -> 1000000, ``"250k"`` -> 250000, ``"5000"`` -> 5000."""
    return _checked(text, _with_suffix, lambda v: v > 0, "a positive count like 5000, 250k or 1M")


def positive_int(text: str) -> int:
    """A positive integer, written out."""
    return _checked(text, int, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0, written out (0 turns an option off)."""
    return _checked(text, int, lambda v: v >= 0, "an integer >= 0")


#: Largest -k of ``search``: every query's result row is allocated in full (12 bytes a neighbour).
MAX_NEIGHBOURS = 100_000


def neighbours(text: str) -> int:
    """A neighbour count ``k``: a positive integer up to :data:`MAX_NEIGHBOURS`."""
    return _checked(text, int, lambda v: 0 < v <= MAX_NEIGHBOURS, f"a positive integer up to {MAX_NEIGHBOURS:,}")


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate)."""
    return _checked(text, float, lambda v: 0.0 < v < float("inf"), "a positive number")


def code_length(text: str) -> int:
    """A code length: a positive multiple of 8."""
    value = positive_int(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"bits must be a multiple of 8, got {value}")
    return value


def threads(text: str) -> Optional[int]:
    """A thread count, or ``all`` (None: the whole pool)."""
    return None if text.strip().lower() == "all" else count(text)


def torch_threads(text: str) -> int:
    """Torch's CPU threads for training: a positive integer, or ``all`` (every CPU this process
    may run on, ``os.sched_getaffinity``)."""
    if text.strip().lower() == "all":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return positive_int(text)


def add_torch_threads_option(p: argparse.ArgumentParser) -> None:
    """``--threads`` of the commands that train (``--torch-threads``, its older name, still works)."""
    p.add_argument("--threads", "--torch-threads", dest="threads", type=torch_threads, metavar="N|all",
                   help="CPU threads for training (default: 1, which does not oversubscribe a shared machine; "
                        "all = every CPU this process may use)")


def list_of(parse: Callable[[str], T]) -> Callable[[str], List[T]]:
    """A comma-separated list of what ``parse`` reads."""
    def parse_list(text: str) -> List[T]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        return [parse(s) for s in items]
    return parse_list


def fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    return _checked(text, float, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")


def add_corpus_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``--corpus`` and the options of reading it (train, build, evaluate, demo)."""
    p.add_argument("--corpus", required=required, metavar="PATH|NAME",
                   help="reuters, 20ng, tmc, docstrings, or a folder / .csv / .jsonl / .txt file")
    p.add_argument("--data-dir", metavar="DIR", help="where named corpora are looked for first "
                   "(then $NASH_INDEX_DATA, then the per-user cache)")
    p.add_argument("--text-column", default="text", help="text field of a .csv/.jsonl corpus (default: text)")
    p.add_argument("--label-column", help="label field of a .csv/.jsonl corpus (default: label/labels if present)")
    p.add_argument("--key-column", help="field of a .csv/.jsonl corpus that names each document, shown by search "
                   "(default: id if present, else <file>:<record number>)")
    p.add_argument("--test-fraction", type=fraction, default=0.2,
                   help="share of an unsplit user corpus held out as queries (default: 0.2)")
    p.add_argument("--max-docs", type=positive_int, default=8000,
                   help="cap on the docstring corpus (default: 8000)")
