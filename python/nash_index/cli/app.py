"""The ``nash-index`` command line (also ``python -m nash_index``).

Subcommands: ``train``, ``build``, ``search``, ``evaluate``, ``bench``, ``demo``, ``info``, ``shard``, ``serve``; run
``nash-index <command> --help`` for each. A user error (missing file, unknown corpus, bad option
value, running out of memory) prints one line, ``nash-index: error: ...``, on stderr and exits with
status 2 (bad usage, or ``--embeddings`` without its optional package) or 1 (the command failed); warnings are one line each too. Set
``NASH_INDEX_DEBUG=1`` to see the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any, Callable, Optional, Sequence

from ..datasets import CorpusNotFoundError
from ..version import __version__
from . import bench, build, demo, evaluate, info, search, shard, train
from . import serve as serve_http  # nash-index serve (HTTP on Ray Serve)
from .args import CLIError, Parser
from .embeddings import EXTRA_HINT

__all__ = ["PROG", "build_parser", "main"]

PROG = "nash-index"
#: Subcommands in the order ``--help`` lists them; each module has ``add_parser`` and ``run``.
COMMANDS = {"train": train, "build": build, "search": search, "evaluate": evaluate, "bench": bench,
            "demo": demo, "info": info, "shard": shard}
COMMANDS["serve"] = serve_http


def build_parser() -> argparse.ArgumentParser:
    """The full ``nash-index`` argument parser."""
    parser = Parser(prog=PROG, description="Semantic hashing (NASH) and exact Hamming search.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


# ---- dispatch ----------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError):
        text = f"missing entry {text}"
    return text or type(exc).__name__


#: Failures reported as one line (the rest are bugs: a traceback helps more).
USER_ERRORS = (CLIError, CorpusNotFoundError, OSError, ValueError, TypeError, RuntimeError, KeyError)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``nash-index``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"nash_index {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    debug = os.environ.get("NASH_INDEX_DEBUG", "") not in ("", "0")
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _one_line_warning(args.command)
            return int(COMMANDS[args.command].run(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:
        if debug:
            raise
        if EXTRA_HINT in str(exc):  # --embeddings without its package (checked first, or as the model loads)
            print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        print(f"{PROG}: error: {_one_line(exc)} (install the extras: pip install 'nash_index[train]')",
              file=sys.stderr)
        return 1
    except MemoryError as exc:
        if debug:
            raise
        print(f"{PROG} {args.command}: error: out of memory: {_one_line(exc)} (ask for fewer results, "
              "e.g. a smaller -k, or fewer queries at once)", file=sys.stderr)
        return 1
    except USER_ERRORS as exc:
        if debug:
            raise
        print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line_warning(command: str) -> Callable[..., None]:
    """``warnings.showwarning`` that prints ``nash-index <command>: warning: ...`` on one line."""
    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        print(f"{PROG} {command}: warning: {_one_line(message if isinstance(message, Warning) else Warning(message))}",
              file=sys.stderr)
    return show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
