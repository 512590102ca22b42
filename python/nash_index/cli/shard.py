"""``nash-index shard``: a sharded index over a Ray cluster (build, info, search, serve).

``shard build`` runs :func:`nash_index.distributed.encode_to_shards` (a Ray Data job) and
``search`` / ``serve`` open :class:`~nash_index.distributed.ShardedIndex`; the queries are encoded
by the pipeline that ``build`` copies into ``DIR/pipeline/``. Ray comes with the optional extra
``distributed``: the package is imported inside :func:`run` only, so ``nash-index --help`` works
without it, and without it ``shard`` prints one line naming :data:`DISTRIBUTED_HINT` (exit 2).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np

from ..index.factory import INDEX_KINDS
from ..pipeline import HashingPipeline
from .args import CLIError, Parser, neighbours, positive_int

__all__ = ["DISTRIBUTED_HINT", "add_parser", "run"]

DISTRIBUTED_HINT = "pip install nash_index[distributed]"


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("shard", help="a sharded index over a Ray cluster: build, info, search, serve",
                       description=f"A sharded index served by Ray actors (needs {DISTRIBUTED_HINT}). "
                                   "--address joins a Ray cluster (auto, host:6379, ray://host:10001); "
                                   "by default $RAY_ADDRESS's, else a new local one.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser, required=True)
    b = actions.add_parser("build", help="encode a corpus into a sharded index (a Ray Data job)")
    b.add_argument("--pipeline", required=True, metavar="DIR", help="saved pipeline (train's model directory)")
    b.add_argument("--input", required=True, nargs="+", metavar="PATH",
                   help="JSON Lines (.jsonl/.json), Parquet or .npy vector files, or directories of them")
    b.add_argument("--out", required=True, metavar="DIR", help="new directory for the sharded index")
    b.add_argument("--shards", required=True, type=positive_int, metavar="N", help="number of shards")
    b.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    b.add_argument("--id-field", help="field holding each row's id, an integer >= 0 (default: the row's position)")
    b.add_argument("--kind", choices=INDEX_KINDS, default="auto", help="each shard's index (default: auto)")
    b.add_argument("--batch-size", type=positive_int, default=1024, help="rows per encoded batch (default: 1024)")
    b.add_argument("--concurrency", type=positive_int, help="encoder actors (default: an autoscaling pool)")
    i = actions.add_parser("info", help="the manifest and each shard's kind, size, generation and journal")
    s = actions.add_parser("search", help="the nearest ids of query texts")
    v = actions.add_parser("serve", help="answer queries read from standard input, one JSON line each")
    for a in (i, s, v):
        a.add_argument("directory", metavar="DIR", help="sharded index directory (written by shard build)")
    i.add_argument("--json", action="store_true", help="print as JSON")
    s.add_argument("queries", nargs="+", metavar="QUERY", help="query text(s)")
    for q in (s, v):
        q.add_argument("-k", "--k", type=neighbours, default=10, help="neighbours per query (default: 10)")
    for a in (b, i, s, v):
        a.add_argument("--address", metavar="ADDR", help="Ray cluster to join (default: see nash-index shard --help)")


def run(args: argparse.Namespace) -> int:
    """Runs ``shard ACTION``; without Ray, one line naming the extra and exit status 2."""
    try:
        import nash_index.distributed as distributed
    except ImportError as exc:
        if not (exc.name or "").startswith("ray"):
            raise
        print(f"nash-index shard: error: the sharded index needs Ray: {DISTRIBUTED_HINT}", file=sys.stderr)
        return 2
    action = {"build": _build, "info": _info, "search": _search, "serve": _serve}[args.action]
    if os.environ.get("NASH_INDEX_DEBUG"):
        return action(distributed, args)
    try:
        return action(distributed, args)
    except (CLIError, OSError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        # One line naming the action; the library's errors name the file, argument and row.
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"nash-index shard {args.action}: error: {text}", file=sys.stderr)
        return 1


# ---- build and info ------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """Ray Data logs every failed task with its traceback and retry advice on stderr (about 200
    lines for one malformed row); the command prints its own one-line error instead. Set
    NASH_INDEX_DEBUG=1 to see Ray's logs."""
    if os.environ.get("NASH_INDEX_DEBUG"):
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # Ray Data's loggers set their own levels: only this reaches them all
    try:
        with warnings.catch_warnings():  # Ray Data's deprecation notices about its own settings
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _build(distributed: Any, args: argparse.Namespace) -> int:
    with _quiet_ray_data():
        out = _encode(distributed, args)
    sizes = [s["ntotal"] for s in _shard_files(out)[1]]
    print(f"encoded {sum(sizes)} codes into {len(sizes)} shards at {out} (codes per shard: "
          f"{', '.join(map(str, sizes))})")
    return 0


def _encode(distributed: Any, args: argparse.Namespace) -> Path:
    return distributed.encode_to_shards(args.pipeline, args.input, args.out, args.shards, text_field=args.text_field,
                                       id_field=args.id_field, kind=args.kind, batch_size=args.batch_size,
                                       concurrency=args.concurrency, address=args.address)


_SHARD_KEYS = ("shard", "kind", "ntotal", "generation", "max_id", "journal_bytes")  # what info prints per shard


def _shard_files(root: Path) -> Tuple[Any, List[Dict[str, Any]]]:
    """(manifest, each shard's facts): read from its files, and where its journal holds changes,
    by replaying it read-only in this process (no Ray, no lock: safe beside a writer)."""
    from ..distributed.layout import read_manifest
    from ..distributed.store import ShardStore

    manifest = read_manifest(root)
    shards = []
    for shard in range(manifest.num_shards):
        facts = ShardStore.read_info(root, shard)
        if facts["journal_bytes"]:
            store = ShardStore(root, shard, mmap=True, writable=False)
            facts = store.info()
            store.close()
        shards.append(_shown(facts))
    return manifest, shards


def _shown(facts: Dict[str, Any]) -> Dict[str, Any]:
    return {key: facts[key] for key in _SHARD_KEYS}


def _info(distributed: Any, args: argparse.Namespace) -> int:
    root = _index_dir(args.directory)
    manifest, shards = _shard_files(root)
    info = {"path": str(root), "nbits": manifest.nbits, "num_shards": manifest.num_shards,
            "routing": manifest.routing, "ntotal": sum(s["ntotal"] for s in shards),
            "pipeline": (root / "pipeline").is_dir(), "shards": shards}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"sharded index {root}: {info['ntotal']} codes of {manifest.nbits} bits in {manifest.num_shards} shards "
          f"(routing {manifest.routing}; query pipeline: {'yes' if info['pipeline'] else 'none'})")
    for s in shards:
        print(f"  shard {s['shard']:4d}  {s['kind']:<17} ntotal={s['ntotal']:<10} generation={s['generation']:<4} "
              f"journal={s['journal_bytes']} bytes")
    return 0


# ---- search and serve ----------------------------------------------------------------------------
def _index_dir(directory: str) -> Path:
    root = Path(directory)
    if not (root / "manifest.json").is_file():
        raise CLIError(f"no sharded index at '{directory}' (no manifest.json; write one with nash-index shard build)")
    return root


def _query_pipeline(root: Path) -> HashingPipeline:
    path = root / "pipeline"
    if not path.is_dir():
        raise CLIError(f"'{root}' has no pipeline/ folder to encode query texts (shard build copies it there)")
    pipe = HashingPipeline.load(path, mmap=True)
    if pipe.uses_vectors and pipe.embedder is None:
        raise CLIError(f"the pipeline in '{path}' was fitted on vectors, not texts: it cannot encode query texts")
    return pipe


def _hits(result: Any, row: int) -> Tuple[List[int], List[int]]:
    """(ids, distances) of one result row, without the padding of a short index."""
    ids, distances = np.asarray(result.ids[row]), np.asarray(result.distances[row])
    keep = ids >= 0
    return ids[keep].tolist(), distances[keep].tolist()


def _search(distributed: Any, args: argparse.Namespace) -> int:
    root = _index_dir(args.directory)
    pipe = _query_pipeline(root)
    with distributed.ShardedIndex.open(root, args.address, fast_search=False, read_only=True) as index:
        result = index.search(pipe.encode(list(args.queries)), args.k)
    for row, query in enumerate(args.queries):
        print(f"query: {query}")
        for rank, (doc_id, d) in enumerate(zip(*_hits(result, row)), start=1):
            print(f"  {rank:3d}. d={d:<3d} id={doc_id}")
    return 0


def _stdin_lines() -> Iterator[str]:
    for line in iter(sys.stdin.readline, ""):  # readline: answer each query as it arrives
        if line.strip():
            yield line.strip()


def _serve(distributed: Any, args: argparse.Namespace) -> int:
    root = _index_dir(args.directory)
    pipe = _query_pipeline(root)
    with distributed.ShardedIndex.open(root, args.address, read_only=True) as index:
        for query in _stdin_lines():
            ids, distances = _hits(index.search(pipe.encode([query]), args.k), 0)
            print(json.dumps({"query": query, "ids": ids, "distances": distances}), flush=True)
    return 0
