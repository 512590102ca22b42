"""``nash-index search``: the nearest indexed documents of query texts."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

from ..index import load as load_index
from ..pipeline import HashingPipeline
from ..pipeline.pipeline import INDEX_FILE, KEYS_FILE
from ..pipeline.storage import read_manifest
from .args import MAX_NEIGHBOURS, CLIError, neighbours
from .common import load_model

__all__ = ["NO_TERMS_MARK", "add_parser", "run"]

#: Shown after a query with no vocabulary term: its neighbours are those of the empty text.
NO_TERMS_MARK = "[no known term: these neighbours are arbitrary]"


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
    p.add_argument("queries", nargs="*", metavar="QUERY", help="query text(s)")


def run(args: argparse.Namespace) -> int:
    """Prints the k nearest documents of each query."""
    queries = list(args.queries) or _stdin_queries()
    if not queries:
        raise CLIError("no query given (pass query texts as arguments or on standard input)")
    pipe = _open_index(args.index, args.model)
    t0 = time.perf_counter()
    result = pipe.search(queries, k=args.k)
    elapsed = time.perf_counter() - t0
    for i, query in enumerate(queries):
        hits = result.hits(i)
        blank = bool(result.no_known_terms[i])
        if args.json:
            print(json.dumps({"query": query, "no_known_terms": blank,
                              "results": [{"key": key, "distance": d, "id": j} for key, d, j in hits]}))
            continue
        print(f"query: {query}" + (f"  {NO_TERMS_MARK}" if blank else ""))
        for rank, (key, d, j) in enumerate(hits, start=1):
            print(f"  {rank:3d}. d={d:<3d} {key}")
    if not args.json:
        print(f"({len(queries)} queries in {elapsed * 1e3:.1f} ms over {pipe.ntotal} documents)")
    return 0


def _stdin_queries() -> List[str]:
    if sys.stdin is None or sys.stdin.isatty():
        return []
    return [line.strip() for line in sys.stdin if line.strip()]


def _open_index(index_path: str, model_path: Optional[str]) -> HashingPipeline:
    """An index directory (checked against ``model_path`` if given), or an index file + model."""
    path = Path(index_path)
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
