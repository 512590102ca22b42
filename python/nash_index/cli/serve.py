"""``nash-index serve``: a saved pipeline (or a sharded index) answering searches over HTTP on Ray Serve.

``POST /search`` takes ``{"texts": [...], "k": 10}`` or ``{"codes": [[...], ...], "k": 10}`` and answers
``{"results": [{"ids": [...], "distances": [...], "keys": [...]}, ...]}``; ``GET /healthz``. It runs
until SIGTERM or Ctrl-C, then stops Serve (and the Ray cluster it started) and exits with status 0.
Ray comes with the optional extra ``distributed``: imported inside :func:`run` only, as ``shard``
does, so ``nash-index --help`` works without it.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Tuple

from .args import CLIError, positive_int

__all__ = ["add_parser", "host_port", "run"]

DISTRIBUTED_HINT = "pip install nash_index[distributed]"


def host_port(text: str) -> Tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6) -> (host, port)."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8000, got {text!r}")
    return host, int(port)


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("serve", help="answer searches over HTTP (Ray Serve): POST /search, GET /healthz",
                       description="Serves a saved pipeline over HTTP on Ray Serve (needs "
                                   f"{DISTRIBUTED_HINT}). POST /search with JSON {{\"texts\": [...], \"k\": 10}} or "
                                   "{\"codes\": [[...], ...], \"k\": 10}; GET /healthz. Without --address it starts a "
                                   "local Ray cluster bound to 127.0.0.1. SIGTERM or Ctrl-C stops it.")
    p.add_argument("--pipeline", metavar="DIR", help="saved pipeline directory (default with --shards: DIR/pipeline)")
    p.add_argument("--http", required=True, type=host_port, metavar="HOST:PORT",
                   help="where to listen, e.g. 127.0.0.1:8000 (0.0.0.0:8000 for every interface)")
    p.add_argument("--replicas", type=positive_int, default=1, help="search replicas sharing the load (default: 1)")
    p.add_argument("--shards", metavar="DIR", help="search this sharded index (shard build's directory) instead of "
                                                   "the pipeline's own index; the pipeline encodes the queries")
    p.add_argument("--max-rows", type=positive_int, default=1024, help="queries per request at most (default: 1024)")
    p.add_argument("--max-k", type=positive_int, default=1000, help="largest k of a request (default: 1000)")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to join (default: $RAY_ADDRESS's, else a new local one)")


def run(args: argparse.Namespace) -> int:
    """Serves until a signal; without Ray, one line naming the extra and exit status 2."""
    try:
        import nash_index.distributed as distributed

        run_server = distributed.run_server
    except ImportError as exc:
        if not (exc.name or "").startswith(("ray", "starlette", "fastapi", "uvicorn")):
            raise
        print(f"nash-index serve: error: serving needs Ray Serve: {DISTRIBUTED_HINT}", file=sys.stderr)
        return 2
    pipeline = args.pipeline
    if pipeline is None:
        if args.shards is None:
            raise CLIError("give --pipeline DIR (or --shards DIR, whose pipeline/ folder then encodes the queries)")
        pipeline = f"{args.shards.rstrip('/')}/pipeline"
    host, port = args.http
    return run_server(pipeline, host, port, replicas=args.replicas, shards=args.shards, address=args.address,
                      max_rows=args.max_rows, max_k=args.max_k)
