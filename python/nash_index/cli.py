"""The ``nash-index`` command line (also ``python -m nash_index``).

Subcommands: ``train``, ``build``, ``search``, ``evaluate``, ``bench``, ``demo``, ``info``; run
``nash-index <command> --help`` for each. A user error (missing file, unknown corpus, bad option
value) prints one line, ``nash-index: error: ...``, on stderr and exits with status 2 (bad usage)
or 1 (the command failed); set ``NASH_INDEX_DEBUG=1`` to see the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Dict, List, NoReturn, Optional, Sequence

__all__ = ["main", "build_parser", "CLIError"]

PROG = "nash-index"


class CLIError(Exception):
    """A user-facing error: reported as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _bits(text: str) -> int:
    value = _positive_int(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"bits must be a multiple of 8, got {value}")
    return value


def _int_list(kind: Callable[[str], int]) -> Callable[[str], List[int]]:
    def parse(text: str) -> List[int]:
        items = [t for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected a comma-separated list of integers")
        return [kind(t.strip()) for t in items]
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


# ---- parser ------------------------------------------------------------------------------
def _add_corpus_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--corpus", required=required, metavar="PATH|NAME",
                   help="reuters, 20ng, tmc, docstrings, or a folder / .csv / .jsonl / .txt file")
    p.add_argument("--data-dir", metavar="DIR", help="where named corpora are looked for first "
                   "(then $NASH_INDEX_DATA, then the per-user cache)")
    p.add_argument("--text-column", default="text", help="text field of a .csv/.jsonl corpus (default: text)")
    p.add_argument("--label-column", help="label field of a .csv/.jsonl corpus (default: label/labels if present)")
    p.add_argument("--test-fraction", type=_fraction, default=0.2,
                   help="share of an unsplit user corpus held out as queries (default: 0.2)")
    p.add_argument("--max-docs", type=_positive_int, default=8000,
                   help="cap on the docstring corpus (default: 8000)")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fit TF-IDF and train a hasher; writes a model directory",
                       description="Fit the TF-IDF vocabulary and train NASH (or a baseline) on the "
                                   "corpus's training split; the model directory can then build indexes.")
    _add_corpus_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--bits", type=_bits, default=64, help="code length (default: 64)")
    p.add_argument("--hasher", default="nash", help="nash (default), lsh, sph, sth or itq")
    p.add_argument("--variant", default="nash-dn", choices=("nash", "nash-n", "nash-dn"),
                   help="NASH variant (default: nash-dn)")
    p.add_argument("--epochs", type=_positive_int, default=100, help="maximum epochs (default: 100)")
    p.add_argument("--patience", type=_positive_int, default=6, help="early-stopping patience (default: 6)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="mini-batch size (default: 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 1e-3)")
    p.add_argument("--max-features", type=_positive_int, default=10000, help="vocabulary size (default: 10000)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--torch-threads", type=_positive_int, help="CPU threads for training (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="encode a corpus with a model and write a searchable index",
                       description="Encode every document of a corpus with a trained model and write "
                                   "a self-contained index directory (model + codes + document keys).")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory written by train")
    _add_corpus_options(p)
    p.add_argument("--out", required=True, metavar="INDEX", help="index directory to write")
    p.add_argument("--split", choices=("all", "train", "test"), default="all",
                   help="which documents to index (default: all)")
    p.add_argument("--index-type", choices=("auto", "flat", "mih"), default="auto",
                   help="flat scan or multi-index hashing (default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="nearest documents of query texts",
                       description="Search an index built by `build`. Queries are the arguments, or "
                                   "one per line on standard input.")
    p.add_argument("--index", required=True, metavar="INDEX",
                   help="index directory written by build (or an index file, with --model)")
    p.add_argument("--model", metavar="DIR", help="model directory (checked against the index's model)")
    p.add_argument("-k", "--k", type=_positive_int, default=10, help="neighbours per query (default: 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("queries", nargs="*", metavar="QUERY", help="query text(s)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="precision@k of a model on a labelled corpus",
                       description="Encode the corpus's training split (database) and test split "
                                   "(queries) and report precision@k under both tie rules, next to "
                                   "baselines trained on the same TF-IDF vectors.")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory written by train")
    _add_corpus_options(p)
    p.add_argument("-k", "--k", type=_positive_int, default=100, help="precision cut-off (default: 100)")
    p.add_argument("--baselines", default="lsh", help="comma-separated baselines to compare "
                   "(lsh, sph, sth, itq; 'none' for none; default: lsh)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The full ``nash-index`` argument parser."""
    from .bench_cli import add_bench_parser
    from .demo import add_demo_parser

    parser = _Parser(prog=PROG, description="Semantic hashing (NASH) and exact Hamming search.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(sub)
    _add_build(sub)
    _add_search(sub)
    _add_evaluate(sub)
    add_bench_parser(sub)
    add_demo_parser(sub)
    p = sub.add_parser("info", help="version, SIMD level, threads, torch/CUDA availability")
    p.add_argument("--json", action="store_true", help="print as JSON")
    return parser


# ---- dispatch ----------------------------------------------------------------------------
def _handlers() -> Dict[str, Callable[[argparse.Namespace], int]]:
    from . import commands
    from .bench_cli import run_bench
    from .demo import run_demo

    return {"train": commands.run_train, "build": commands.run_build, "search": commands.run_search,
            "evaluate": commands.run_evaluate, "info": commands.run_info, "bench": run_bench,
            "demo": run_demo}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError):
        text = f"missing entry {text}"
    return text or type(exc).__name__


def _user_errors() -> tuple:
    from .datasets import CorpusNotFoundError

    return (CLIError, CorpusNotFoundError, OSError, ValueError, TypeError, RuntimeError, KeyError)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``nash-index``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"nash_index {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    debug = os.environ.get("NASH_INDEX_DEBUG", "") not in ("", "0")
    try:
        return int(_handlers()[args.command](args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)} (install the extras: pip install 'nash_index[train]')",
              file=sys.stderr)
        return 1
    except _user_errors() as exc:
        if debug:
            raise
        print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
