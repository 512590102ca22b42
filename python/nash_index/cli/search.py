"""``nash-index search``: the nearest indexed documents of query texts."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Union

import numpy as np

from ..index import load as load_index
from ..pipeline import CodesIndex, HashingPipeline
from ..pipeline.codes import is_codes_directory
from ..pipeline.pipeline import INDEX_FILE, KEYS_FILE, TextSearchResult
from ..pipeline.storage import read_manifest
from .args import MAX_NEIGHBOURS, CLIError, neighbours
from .build import read_codes
from .common import load_model

__all__ = ["NO_TERMS_MARK", "add_parser", "run"]

#: Shown after a query with no vocabulary term: its neighbours are those of the empty text.
NO_TERMS_MARK = "[no known term: these neighbours are arbitrary]"
#: Characters of a neighbour's text that --show-text prints on its line.
SHOWN_CHARS = 100


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("search", help="nearest documents of query texts",
                       description="Search an index built by `build`. Queries are the arguments, or "
                                   "one per line on standard input.")
    p.add_argument("--index", required=True, metavar="INDEX",
                   help="index directory written by build (or an index file, with --model)")
    p.add_argument("--model", metavar="DIR", help="model directory (checked against the index's model)")
    p.add_argument("-k", "--k", type=neighbours, default=10,
                   help=f"neighbours per query (default: 10; at most {MAX_NEIGHBOURS:,})")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("--codes", metavar="FILE.npy", help="query codes instead of texts, one per row (packed uint8 "
                   "or 0/1 bits, as build --codes reads them); the only queries of an index of codes")
    p.add_argument("--show-text", action="store_true",
                   help="print an excerpt of each neighbour's text beside its key (stored by build)")
    p.add_argument("queries", nargs="*", metavar="QUERY", help="query text(s)")


def run(args: argparse.Namespace) -> int:
    """Prints the k nearest documents of each query."""
    if args.codes is not None and args.queries:
        raise CLIError("pass query texts or --codes, not both")
    target = _open_index(args.index, args.model)
    if args.codes is None and isinstance(target, CodesIndex):
        raise CLIError(f"'{args.index}' is an index of codes (built with --codes): it has no text encoder, so "
                       "it cannot search texts; pass query codes with --codes QUERIES.npy")
    if args.show_text and not getattr(target, "stores_texts", False):
        raise CLIError(f"'{args.index}' stores no document texts (an index of codes, or built before texts were "
                       "stored): rebuild it with nash-index build to use --show-text")
    queries = [] if args.codes is not None else (list(args.queries) or _stdin_queries())
    if args.codes is None and not queries:
        raise CLIError("no query given (pass query texts as arguments or on standard input)")
    t0 = time.perf_counter()
    if args.codes is not None:
        result = _search_codes(target, read_codes(args.codes), args.k)
        queries = [f"{args.codes}[{i}]" for i in range(len(result))]
    else:
        result = target.search(queries, k=args.k)
    elapsed = time.perf_counter() - t0
    for i, query in enumerate(queries):
        hits = result.hits(i)
        blank = bool(result.no_known_terms[i])
        if args.json:
            rows = [{"key": key, "distance": d, "id": j} for key, d, j in hits]
            if args.show_text:
                for row in rows:
                    row["text"] = target.text_of(row["id"])
            print(json.dumps({"query": query, "no_known_terms": blank, "results": rows}))
            continue
        print(f"query: {query}" + (f"  {NO_TERMS_MARK}" if blank else ""))
        for rank, (key, d, j) in enumerate(hits, start=1):
            shown = f"  | {_shorten(target.text_of(j) or '')}" if args.show_text else ""
            print(f"  {rank:3d}. d={d:<3d} {key}{shown}")
    if not args.json:
        print(f"({len(queries)} queries in {elapsed * 1e3:.1f} ms over {target.ntotal} documents)")
    return 0


def _stdin_queries() -> List[str]:
    if sys.stdin is None or sys.stdin.isatty():
        return []
    return [line.strip() for line in sys.stdin if line.strip()]


def _shorten(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def _search_codes(target: Union[HashingPipeline, CodesIndex], codes: np.ndarray, k: int) -> TextSearchResult:
    return target.search(codes, k) if isinstance(target, CodesIndex) else target.search_codes(codes, k)


def _open_index(index_path: str, model_path: Optional[str]) -> Union[HashingPipeline, CodesIndex]:
    """An index directory (checked against ``model_path`` if given), an index of codes, or an
    index file + model."""
    path = Path(index_path)
    if path.is_dir() and is_codes_directory(path):
        if model_path is not None:
            raise CLIError(f"'{index_path}' is an index of codes: it has no model to check --model against")
        return CodesIndex.load(path)
    if path.is_file():
        if model_path is None:
            raise CLIError(f"'{index_path}' is an index file; pass the model directory with --model")
        pipe = load_model(model_path)
        pipe.attach_index(load_index(path))
        return pipe
    if not path.exists():
        raise CLIError(f"no index at '{index_path}'")
    pipe = HashingPipeline.load(path)
    if model_path is not None:
        _check_same_model(path, Path(model_path))
    return pipe


def _check_same_model(index_dir: Path, model_dir: Path) -> None:
    if not model_dir.exists():
        raise CLIError(f"no model directory at '{model_dir}'")
    a, b = read_manifest(index_dir), read_manifest(model_dir)
    model_files = [f for f in a["files"] if f not in (INDEX_FILE, KEYS_FILE)]
    if any(a["files"].get(f) != b["files"].get(f) for f in model_files):
        raise CLIError(f"the index '{index_dir}' was not built with the model '{model_dir}'")
