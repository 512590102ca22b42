"""``nash-index evaluate``: precision@k of a model on a labelled corpus, next to baselines."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..evaluation import precision_at_k
from ..pipeline import HashingPipeline
from ..text import AUTO_HASHER, canonical_hasher, hasher_names, hasher_spec, make_hasher
from .args import CLIError, add_corpus_options, positive_int
from .common import load_model, load_splits

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("evaluate", help="precision@k of a model on a labelled corpus",
                       description="Encode the corpus's training split (database) and test split "
                                   "(queries) and report precision@k under both tie rules, next to "
                                   "baselines trained on the same TF-IDF vectors.")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory written by train")
    add_corpus_options(p)
    p.add_argument("-k", "--k", type=positive_int, default=100, help="precision cut-off (default: 100)")
    p.add_argument("--baselines", default="itq,lsh", help="comma-separated baselines to compare "
                   f"({', '.join(hasher_names(neural=False))}; 'none' for none; default: itq,lsh: the strongest and the simplest)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    """precision@k of the model and of baselines on the corpus's train (database) / test split."""
    pipe = load_model(args.model)
    raw = load_splits(args, quiet=args.json)
    if not raw.labelled or not raw.test.labels.any():
        raise CLIError("evaluation needs a labelled corpus (this one has no labels)")
    queries, query_labels = raw.test.texts, raw.test.labels
    rows = []
    X_db, X_q = pipe.transform(raw.train.texts), pipe.transform(queries)
    kept = pipe.train_info.get("hasher", pipe.hasher_kind)  # hasher="auto": say which one it kept
    model_name = pipe.hasher_kind if kept == pipe.hasher_kind else f"{pipe.hasher_kind}:{kept}"
    methods = [(model_name, pipe.encoder)] + _baselines(args.baselines, pipe, X_db)
    for name, encoder in methods:
        t0 = time.perf_counter()
        p = precision_at_k(encoder.encode(X_db), raw.train.labels, encoder.encode(X_q), query_labels, args.k)
        rows.append({"method": name, "bits": pipe.nbits, "k": args.k, "index_order": p.index_order,
                     "expected": p.expected, "seconds": time.perf_counter() - t0})
    if args.json:
        print(json.dumps({"corpus": raw.name, "n_db": len(raw.train), "n_val": len(raw.val),
                          "n_queries": len(queries), "results": rows}, indent=2))
        return 0
    print(f"split: {len(raw.train)} database (train) / {len(raw.val)} validation (train's early stopping; "
          f"not used here) / {len(queries)} queries (test)")
    print(f"precision@{args.k} over {len(queries)} queries against {len(raw.train)} documents")
    print(f"{'method':<10} {'bits':>4}  {'ties by id':>10}  {'random ties':>11}")
    for r in rows:
        print(f"{r['method']:<10} {r['bits']:>4}  {r['index_order']:10.4f}  {r['expected']:11.4f}")
    print("(ties by id: the index's order; random ties: the expectation over random tie order)")
    return 0


def _baselines(spec: str, pipe: HashingPipeline, X_db: Any) -> list:
    names = [s.strip() for s in spec.split(",") if s.strip() and s.strip().lower() != "none"]
    out = []
    for name in names:
        kind = canonical_hasher(name)
        if kind == AUTO_HASHER or hasher_spec(kind).neural:
            raise CLIError(f"--baselines takes classic baselines only ({', '.join(hasher_names(neural=False))})")
        try:
            out.append((kind, make_hasher(kind, pipe.nbits, seed=pipe.seed).fit(X_db)))
        except ValueError as exc:  # e.g. PCA-ITQ with more bits than the vectors have dimensions
            print(f"skipped baseline {kind}: {exc}", file=sys.stderr)
    return out
