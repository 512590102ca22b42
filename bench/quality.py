"""Precision@100 of the classic baselines: method × dataset × bits, both tie rules.

Database = train split, queries = test split (VDSH recipe, see ``nash_index.datasets``).
Every cell shows ``index order / expected``: the FlatIndex's (distance, id) tie rule, and the exact
expectation under random tie order. Results go to ``bench/results/quality.{md,json}``.

Usage::

    python bench/quality.py                       # reuters + 20ng, all baselines, 8..128 bits
    python bench/quality.py --datasets reuters --bits 16 32 --methods LSH STH
    python bench/quality.py --data /path/to/corpora --seed 1

Corpora are looked for in ``--data``, then ``$NASH_INDEX_DATA``, then ``<repo>/../shared/data``,
then the per-user data folder.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import scipy
import sklearn

from harness import RESULTS_DIR, default_data_dir, fmt_precision, md_table_head, paper_rows, precision_cell, write_report
from nash_index.baselines import BASELINES
from nash_index.datasets import PUBLISHED_SIZES, load_corpus
from nash_index.evaluation import precision_at_k
from nash_index.text import display_name

BITS = (8, 16, 32, 64, 128)
#: The baselines by display name (the reports' and the paper's names: "PCA-ITQ", "SpH").
METHODS = {display_name(kind): cls for kind, cls in BASELINES.items()}
# NASH paper, Table 1 (Reuters, VDSH .mat data); see docs/nash-notes.md for provenance.
PAPER = {
    "reuters": {
        "LSH": (0.2802, 0.3215, 0.3862, 0.4667, 0.5194),
        "SpH": (0.6080, 0.6340, 0.6513, 0.6290, 0.6045),
        "STH": (0.6616, 0.7351, 0.7554, 0.7350, 0.6986),
    },
    "20ng": {  # recalled, unverified (R in the notes)
        "LSH": (0.0578, 0.0597, 0.0666, 0.0770, 0.0949),
        "SpH": (0.2545, 0.3200, 0.3709, 0.3196, 0.2716),
        "STH": (0.3664, 0.5237, 0.5860, 0.5806, 0.5443),
    },
}


def run_cell(model_cls: Any, bits: int, seed: int, corpus: Any, k: int) -> Dict[str, Any]:
    """Fit one baseline on the database, encode both splits, score the test queries."""
    t0 = time.perf_counter()
    model = model_cls(nbits=bits, random_state=seed).fit(corpus.X_train)
    db, queries = model.encode(corpus.X_train), model.encode(corpus.X_test)
    fit_s = time.perf_counter() - t0
    p = precision_at_k(db, corpus.y_train, queries, corpus.y_test, k=k)
    return dict(precision_cell(p), seconds=round(fit_s, 1))


def markdown(report: Dict[str, Any]) -> str:
    """Render the report as Markdown: one table per dataset, paper rows for comparison."""
    meta = report["meta"]
    bits = meta["bits"]
    lines = [
        f"# Baseline precision@{meta['k']} (database = train, queries = test)",
        "",
        f"Cells: `index order / expected` (ties by ascending id / exact expectation under random tie order). "
        f"Seed {meta['seed']} (splits, shuffles and models). {meta['environment']}.",
        "",
    ]
    for ds, info in report["datasets"].items():
        s, pub = info["sizes"], info.get("published_sizes") or {}
        lines += [f"## {ds}", "",
                  f"Splits train/val/test: {s['train']:,} / {s['val']:,} / {s['test']:,}"
                  + (f" (VDSH .mat: {pub['train']:,} / {pub['val']:,} / {pub['test']:,})" if pub else "")
                  + f"; {info['n_terms']:,} terms, {info['n_labels']} labels.", "",
                  *md_table_head("method", bits)]
        for method in meta["methods"]:
            cells = [report["results"][ds][method].get(str(b)) for b in bits]
            lines.append(f"| {method} | " + " | ".join(fmt_precision(c) for c in cells) + " |")
        lines += paper_rows(PAPER.get(ds, {}), BITS, bits)
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding the corpus archives")
    ap.add_argument("--datasets", nargs="+", default=["reuters", "20ng"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--bits", nargs="+", type=int, default=list(BITS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="output folder")
    ap.add_argument("--name", default="quality", help="output file stem")
    args = ap.parse_args(argv)

    data = args.data or default_data_dir()
    env = (f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
           f"Python {platform.python_version()}")
    report: Dict[str, Any] = {
        "meta": {"k": args.k, "seed": args.seed, "bits": args.bits, "methods": args.methods,
                 "environment": env, "date": time.strftime("%Y-%m-%d %H:%M:%S")},
        "datasets": {}, "results": {}, "paper": PAPER,
    }
    for ds in args.datasets:
        corpus = load_corpus(ds, data, seed=args.seed)
        report["datasets"][ds] = {
            "sizes": corpus.sizes, "published_sizes": PUBLISHED_SIZES.get(corpus.name),
            "n_terms": len(corpus.vocabulary), "n_labels": len(corpus.label_names),
            "recipe": corpus.info.get("recipe"),
        }
        print(f"{ds}: {corpus}", flush=True)
        report["results"][ds] = {}
        for method in args.methods:
            report["results"][ds][method] = {}
            for bits in args.bits:
                cell = run_cell(METHODS[method], bits, args.seed, corpus, args.k)
                report["results"][ds][method][str(bits)] = cell
                print(f"  {method:8s} {bits:4d} bits: index {cell['p_index']:.4f}  expected "
                      f"{cell['p_expected']:.4f}  ({cell['seconds']} s)", flush=True)
    md = markdown(report)
    write_report(report, args.out, args.name, md)
    print("\n" + md)
    print(f"wrote {args.out / (args.name + '.md')} and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
