"""Reproduce the NASH paper's tables: NASH, NASH-N, NASH-DN, NASH-DN-S and VDSH.

Every model is trained with the library defaults (``NASH(nbits=b, variant=...)``): database =
train split, early stopping on the validation split's precision@100 against the database, and
one evaluation of the test queries at the end. Cells show ``index order / expected`` precision@k
(ties by ascending database id / exact expectation under random tie order) and the training
time. Results go to ``bench/results/models.{md,json}``, beside the baselines table written by
``bench/quality.py`` (whose rows are copied in when ``quality.json`` exists).

Usage::

    python bench/reproduce.py                                  # everything (hours on 2 CPUs)
    python bench/reproduce.py --datasets reuters --bits 32 --models NASH-DN
    python bench/reproduce.py --resume                         # skip cells already in the JSON

Corpora are looked for in ``--data``, then ``$NASH_INDEX_DATA``, then ``<repo>/../shared/data``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from harness import RESULTS_DIR, default_data_dir, fmt_precision, md_table_head, paper_rows, precision_cell, write_report
from nash_index.datasets import load_corpus
from nash_index.evaluation import cosine_precision_at_k, precision_at_k

BITS = (8, 16, 32, 64, 128)


#: The paper's models as the library trained them before neighbourhood reconstruction became a
#: default (so their rows stay comparable with earlier runs); "NASH-DN+NR" is the library's defaults.
PAPER_SETTINGS = {"batch_size": 64, "lr": 1e-3, "neighbours": 0}


def _nash(variant: str, supervised: bool = False, paper: bool = True) -> Callable[..., Any]:
    def make(nbits: int, seed: int, device: str) -> Any:
        from nash_index.models import NASH
        return NASH(nbits=nbits, variant=variant, supervised=supervised, seed=seed,
                    device=device, verbose=False, **(PAPER_SETTINGS if paper else {}))
    return make


def _vdsh(nbits: int, seed: int, device: str) -> Any:
    from nash_index.models import VDSH
    return VDSH(nbits=nbits, seed=seed, device=device, verbose=False)


MODELS: Dict[str, Callable[..., Any]] = {
    "VDSH": _vdsh,
    "NASH": _nash("nash"),
    "NASH-N": _nash("nash-n"),
    "NASH-DN": _nash("nash-dn"),
    "NASH-DN-S": _nash("nash-dn", supervised=True),
    "NASH-DN+NR": _nash("nash-dn", paper=False),
}

# NASH paper, unsupervised Reuters (Table 1) and 20 Newsgroups (Table 2; recalled, unverified).
# Provenance of every row: docs/nash-notes.md, section 1.
PAPER = {
    "reuters": {
        "VDSH": (0.6859, 0.7165, 0.7753, 0.7456, 0.7318),
        "NASH": (0.7113, 0.7624, 0.7993, 0.7812, 0.7559),
        "NASH-N": (0.7352, 0.7904, 0.8297, 0.8086, 0.7867),
        "NASH-DN": (0.7470, 0.8013, 0.8418, 0.8297, 0.7924),
    },
    "20ng": {
        "VDSH": (0.3643, 0.3904, 0.4327, 0.1731, 0.0522),
        "NASH": (0.3786, 0.5108, 0.5671, 0.5071, 0.4664),
        "NASH-N": (0.3903, 0.5213, 0.5987, 0.5143, 0.4776),
        "NASH-DN": (0.4040, 0.5310, 0.6225, 0.5377, 0.4945),
    },
}


def run_cell(make: Callable[..., Any], bits: int, corpus: Any, seed: int, device: str,
             k: int, threads: int = 0) -> Dict[str, Any]:
    """Train one model (early stopping on validation), then score the test queries once."""
    model = make(bits, seed, device).set_params(num_threads=threads or None)  # 0: the library's default
    t0 = time.perf_counter()
    model.fit(corpus.X_train, corpus.y_train, corpus.X_val, corpus.y_val)
    train_s = time.perf_counter() - t0
    db, queries = model.encode(corpus.X_train), model.encode(corpus.X_test)
    p = precision_at_k(db, corpus.y_train, queries, corpus.y_test, k=k)
    return {**precision_cell(p), "val": round(model.result_.best_score, 4), "best_epoch": model.result_.best_epoch,
            "epochs": len(model.history_), "seconds": round(train_s, 1),
            "device": str(model.device_)}


def _baseline_rows(out: Path, ds: str) -> Dict[str, Dict[str, Any]]:
    """Rows of ``quality.json`` (the classic baselines) for dataset ``ds``, if present."""
    path = out / "quality.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text()).get("results", {}).get(ds, {})


def _row(name: str, cells: List[Optional[Dict[str, Any]]], time_col: bool) -> str:
    vals = " | ".join(fmt_precision(c) for c in cells)
    if time_col:
        secs = [f"{c['seconds']:.0f}" for c in cells if c]
        vals += " | " + (" / ".join(secs) if secs else "–")
    return f"| {name} | {vals} |"


def markdown(report: Dict[str, Any], out: Path) -> str:
    """One table per dataset: our models, the baselines from quality.json, the paper rows."""
    meta, bits = report["meta"], report["meta"]["bits"]
    lines = [f"# NASH reproduction: precision@{meta['k']} (database = train, queries = test)", "",
             "Cells: `index order / expected` (ties by ascending id / expectation under random "
             "tie order). NASH-DN+NR is the library's defaults (`NASH(nbits=b)`: batch 256, lr 2e-3, "
             "neighbourhood reconstruction with 10 neighbours); the paper's models (VDSH, NASH, NASH-N, NASH-DN, "
             "NASH-DN-S) keep the settings they were measured with (batch 64, lr 1e-3, no neighbourhood term). "
             f"Early stopping on validation precision@{meta['k']}. Train time in seconds per bit length "
             "(NASH-DN+NR: up to four jobs shared the 2 cores). Seed "
             f"{meta['seed']}. "
             f"{meta['environment']}.", "", f"Command: `{meta['command']}`", ""]
    for ds, info in report["datasets"].items():
        s = info["sizes"]
        lines += [f"## {ds}", "", f"Splits train/val/test: {s['train']:,} / {s['val']:,} / "
                  f"{s['test']:,}.", "", *md_table_head("method", [*bits, "train s"])]
        for name, cells in report["results"].get(ds, {}).items():
            lines.append(_row(name, [cells.get(str(b)) for b in bits], True))
        for name, cells in _baseline_rows(out, ds).items():
            lines.append(_row(name + " (baseline)", [cells.get(str(b)) for b in bits], True))
        cosine = info.get("cosine")
        if cosine is not None:
            lines.append("| TF-IDF cosine (float, no hashing) | " + " | ".join(f"{cosine:.4f}" for _ in bits) + " | |")
        lines += paper_rows(PAPER.get(ds, {}), BITS, bits, tail=" |")
        lines += ["", *seed_means(out, ds, report["results"].get(ds, {}), cosine), ""]
    return "\n".join(lines)


SeedCells = Dict[str, Dict[str, Dict[str, Dict[int, Dict[str, Any]]]]]  # ds -> model -> bits -> seed -> cell


def seed_cells(out: Path) -> SeedCells:
    """Every cell of every ``models*.json`` in ``out`` on split 0 (other splits have other queries),
    by dataset, model, bits and model seed; the first file (by name) holding a cell wins."""
    cells: SeedCells = {}
    for path in sorted(out.glob("models*.json")):
        report = json.loads(path.read_text())
        meta = report.get("meta", {})
        if meta.get("split_seed", 0) != 0:
            continue
        seed = int(meta.get("seed", 0))
        for ds, models in report.get("results", {}).items():
            for model, by_bits in models.items():
                for b, cell in by_bits.items():
                    cells.setdefault(ds, {}).setdefault(model, {}).setdefault(b, {}).setdefault(seed, cell)
    return cells


def seed_means(out: Path, ds: str, shown: Dict[str, Any], cosine: Optional[float]) -> List[str]:
    """Mean ± sd over model seeds of the models in this report that ran with several seeds,
    beside the single-run baselines and the cosine: the table a claim should rest on."""
    cells = {m: c for m, c in seed_cells(out).get(ds, {}).items() if m in shown}
    multi = {m: c for m, c in cells.items() if any(len(by_seed) > 1 for by_seed in c.values())}
    if not multi:
        return []
    bits = sorted({int(b) for c in multi.values() for b in c})
    lines = ["Mean ± sd over model seeds (test precision@100, index order; train s: median):", "",
             *md_table_head("method", [*bits, "train s"])]
    for model, by_bits in multi.items():
        row, secs = [], []
        for b in bits:
            vals = [c["p_index"] for c in by_bits.get(str(b), {}).values()]
            secs += [c["seconds"] for c in by_bits.get(str(b), {}).values()]
            row.append(f"{np.mean(vals):.4f} ± {np.std(vals, ddof=1):.4f} (n={len(vals)})" if len(vals) > 1
                       else (f"{vals[0]:.4f} (n=1)" if vals else "–"))
        lines.append(f"| {model} | " + " | ".join(row) + f" | {np.median(secs):.0f} |")
    for name, by_bits in _baseline_rows(out, ds).items():
        lines.append(f"| {name} (baseline, 1 run) | " + " | ".join(
            f"{by_bits[str(b)]['p_index']:.4f}" if str(b) in by_bits else "–" for b in bits) + " | |")
    if cosine is not None:
        lines.append("| TF-IDF cosine (float) | " + " | ".join(f"{cosine:.4f}" for _ in bits) + " | |")
    return lines


def _write(report: Dict[str, Any], out: Path, name: str) -> None:
    write_report(report, out, name, markdown(report, out))


def _load_previous(path: Path) -> Dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def add_run_args(ap: argparse.ArgumentParser, name: Optional[str] = None) -> None:
    """Options every training benchmark shares: data folder, torch threads, output folder and,
    with ``name`` (the default output stem), ``--resume`` and ``--name``."""
    ap.add_argument("--data", type=Path, default=None, help="folder holding the corpus archives")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: the library's default, 1)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="output folder")
    if name is not None:
        ap.add_argument("--resume", action="store_true", help="keep and skip cells already written")
        ap.add_argument("--name", default=name, help="output file stem")


def torch_with_threads(threads: int) -> Any:
    """torch (imported here: the library itself imports it lazily), limited to ``threads``."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    return torch


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["reuters", "20ng"])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--bits", nargs="+", type=int, default=list(BITS))
    ap.add_argument("--seed", type=int, default=0, help="model seed (weights, sampling, batches)")
    ap.add_argument("--split-seed", type=int, default=0,
                    help="corpus split seed; keep 0 so that runs with other --seed share queries")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_run_args(ap, name="models")
    args = ap.parse_args(argv)

    torch = torch_with_threads(args.threads)
    data = args.data or default_data_dir()
    env = (f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
           f"Python {platform.python_version()}, {platform.machine()}")
    previous = _load_previous(args.out / f"{args.name}.json") if args.resume else {}
    # A resumed run keeps the columns and rows written before (e.g. --bits 32, then --bits 16 64).
    old_cells = [c for rows in previous.get("results", {}).values() for cells in rows.values() for c in cells]
    bits = sorted(set(args.bits) | {int(b) for b in old_cells})
    models = list(dict.fromkeys(previous.get("meta", {}).get("models", []) + args.models))
    report: Dict[str, Any] = {
        "meta": {"k": args.k, "seed": args.seed, "split_seed": args.split_seed, "bits": bits,
                 "models": models,
                 "environment": env, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "command": "python bench/reproduce.py " + " ".join(argv or sys.argv[1:])},
        "datasets": previous.get("datasets", {}), "results": previous.get("results", {}),
        "paper": PAPER,
    }
    for ds in args.datasets:
        corpus = load_corpus(ds, data, seed=args.split_seed)
        report["datasets"][ds] = {"sizes": corpus.sizes, "n_terms": len(corpus.vocabulary),
                                  "n_labels": len(corpus.label_names),
                                  "cosine": round(cosine_precision_at_k(corpus.X_train, corpus.y_train, corpus.X_test,
                                                                        corpus.y_test, args.k), 4)}
        print(f"{ds}: {corpus}", flush=True)
        for name in args.models:
            cells = report["results"].setdefault(ds, {}).setdefault(name, {})
            for bits in args.bits:
                if args.resume and str(bits) in cells:
                    continue
                cell = run_cell(MODELS[name], bits, corpus, args.seed, args.device, args.k, args.threads)
                cells[str(bits)] = cell
                print(f"  {name:9s} {bits:4d} bits: index {cell['p_index']:.4f}  expected "
                      f"{cell['p_expected']:.4f}  val {cell['val']:.4f}  "
                      f"({cell['seconds']} s, {cell['epochs']} epochs)", flush=True)
                _write(report, args.out, args.name)  # after every cell: long runs are resumable
    _write(report, args.out, args.name)
    print("\n" + markdown(report, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
