"""Which NASH settings should be the defaults: candidates side by side on every corpus we have.

Each trial trains ``NASH(nbits, **candidate)`` on a corpus's train split with early stopping on the
validation split's precision@100, and records the validation score (the only number a choice may
use), the test score (reported, never used to choose) and the training time. PCA-ITQ (seconds to
fit) is scored the same way in every cell, so each candidate is judged against the baseline it
must beat. Corpora:

* ``reuters``, ``20ng``: the VDSH preparation (``load_corpus``);
* ``docstrings``: the demo's embedded corpus (Python docstrings labelled by module);
* ``newsgroups-csv``: a *user CSV* written from 20 Newsgroups as a user would bring one: the first
  400 characters of 9,000 posts (6,000 train, 3,000 test), labelled by its top-level hierarchy (comp, rec, sci, talk, ...),
  loaded through the library's CSV reader. Short texts and coarse labels: a different regime.

Trials go to ``<out>/study.jsonl`` (resumable) and the summary to ``<out>/study.md``.

Usage::

    python bench/study_defaults.py --corpora reuters 20ng docstrings newsgroups-csv --bits 32 64 \\
        --candidates defaults fast fast+nbr10 --seeds 0 1 2 --threads 1
"""
from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from harness import default_data_dir
from nash_index.datasets import CorpusOptions, Recipe, load_corpus, load_csv, load_source, vdsh_preprocess
from nash_index.evaluation import cosine_precision_at_k as cosine_precision
from nash_index.evaluation import precision_at_k
from reproduce import add_run_args, torch_with_threads

#: Named settings; "defaults" is whatever the library's defaults are when the study runs.
CANDIDATES: Dict[str, Dict[str, Any]] = {
    "defaults": {},
    "old": {"batch_size": 64, "lr": 1e-3, "neighbours": 0},
    "fast": {"batch_size": 256, "lr": 2e-3, "neighbours": 0},
    "fast+nbr10": {"batch_size": 256, "lr": 2e-3, "neighbours": 10},
    "fast+nbr10w2": {"batch_size": 256, "lr": 2e-3, "neighbours": 10, "neighbour_weight": 2.0},
    "fast+nbr20": {"batch_size": 256, "lr": 2e-3, "neighbours": 20},
    # bit balance and decorrelation (AMMI/SMASH-style terms), studied here, not library options
    "fast+nbr10+bits100": {"batch_size": 256, "lr": 2e-3, "neighbours": 10, "_bit_terms": 100.0},
    "fast+nbr10+bits1000": {"batch_size": 256, "lr": 2e-3, "neighbours": 10, "_bit_terms": 1000.0},
}


def bit_terms(h: Any) -> Any:
    """Batch bit balance sum_k (mean h_k - 1/2)^2 plus decorrelation ||off-diagonal cov(h)||_F^2."""
    centred = h - h.mean(dim=0)
    cov = centred.T @ centred / h.shape[0]
    off_diagonal = cov - cov.diag().diag()
    return ((h.mean(dim=0) - 0.5) ** 2).sum() + (off_diagonal ** 2).sum()


def with_bit_terms(model: Any, weight: float) -> Any:
    """``model`` (a NASH) whose training loss adds ``weight * bit_terms(h)`` per batch."""
    import torch

    build = model.build_net

    def build_net(n_features: int, n_labels: int) -> Any:
        net = build(n_features, n_labels)
        loss = net.loss

        def regularised(x: Any, y: Any, kl_weight: float, alpha: float, **kw: Any) -> Any:
            total, parts = loss(x, y, kl_weight, alpha, **kw)
            if net.training:
                total = total + weight * bit_terms(torch.sigmoid(net.encoder(x)))
            return total, parts
        net.loss = regularised
        return net
    model.build_net = build_net
    return model


def newsgroups_csv(data: Optional[Path], folder: Path) -> Path:
    """The 'user CSV': 20NG posts cut to 400 characters, labelled by top-level hierarchy."""
    path = folder / "newsgroups_short.csv"
    folder.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        return path
    raw = load_source("20ng", CorpusOptions(data_dir=data))
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        for split, size in (("train", 6000), ("test", 3000)):  # a user-sized sample, in random order
            texts, labels = getattr(raw, f"{split}_texts"), getattr(raw, f"{split}_labels")
            for i in rng.permutation(len(texts))[:size]:
                text, row = texts[i], labels[i]
                groups = sorted({raw.label_names[j].split(".")[0] for j in np.flatnonzero(row)})
                writer.writerow([" ".join(text.split())[:400], "|".join(groups), split])
    return path


def load(name: str, data: Optional[Path], folder: Path) -> Any:
    if name in ("reuters", "20ng"):
        return load_corpus(name, data)
    if name == "docstrings":
        return vdsh_preprocess(load_source("docstrings"), Recipe(min_df=2))
    if name == "newsgroups-csv":
        raw = load_csv(newsgroups_csv(data, folder), label_columns="label", label_sep="|", split_column="split",
                       name="newsgroups-csv")
        return vdsh_preprocess(raw, Recipe(min_tokens=3))
    raise SystemExit(f"unknown corpus {name!r}")


def _scores(encode: Any, corpus: Any, k: int = 100) -> Dict[str, float]:
    db = encode(corpus.X_train)
    k = min(k, corpus.X_train.shape[0])
    return {split: round(precision_at_k(db, corpus.y_train, encode(getattr(corpus, f"X_{split}")),
                                        getattr(corpus, f"y_{split}"), k).index_order, 4)
            for split in ("val", "test")}


def run_trial(corpus: Any, bits: int, candidate: str, seed: int, threads: int) -> Dict[str, Any]:
    t0 = time.perf_counter()
    if candidate == "itq":
        from nash_index.baselines import PCAITQ
        model: Any = PCAITQ(nbits=bits, random_state=seed).fit(corpus.X_train)
        return {**_scores(model.encode, corpus), "seconds": round(time.perf_counter() - t0, 1)}
    if candidate == "cosine":
        k = min(100, corpus.X_train.shape[0])
        return {split: round(cosine_precision(corpus.X_train, corpus.y_train, getattr(corpus, f"X_{split}"),
                                              getattr(corpus, f"y_{split}"), k), 4) for split in ("val", "test")}
    from nash_index.models import NASH
    params = dict(CANDIDATES[candidate])
    weight = params.pop("_bit_terms", 0.0)
    model = NASH(nbits=bits, seed=seed, verbose=False, num_threads=threads or None, **params)
    if weight:
        model = with_bit_terms(model, weight)
    model.fit(corpus.X_train, corpus.y_train, corpus.X_val, corpus.y_val)
    seconds = round(time.perf_counter() - t0, 1)
    # the same model with per-bit median thresholds (balanced bits) instead of h > 0.5
    medians = np.median(model._scores(corpus.X_train), axis=0)
    balanced = _scores(lambda X: np.packbits(model._scores(X) > medians, axis=1), corpus)
    return {**_scores(model.encode, corpus), "seconds": seconds, "best_epoch": model.result_.best_epoch,
            "epochs": len(model.history_), "val_median": balanced["val"], "test_median": balanced["test"]}


def summarise(records: List[Dict[str, Any]]) -> str:
    """Mean (and sd over seeds) validation and test precision per corpus, bits and candidate."""
    cells: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in records:
        cells.setdefault((r["corpus"], r["bits"], r["candidate"]), []).append(r)
    lines = ["# NASH defaults study (choices use validation precision@100 only)", "",
             "Mean over seeds (sd). `val - ITQ`: the candidate's mean validation score minus PCA-ITQ's.", "",
             "| corpus | bits | candidate | seeds | val | test | val - ITQ | test - ITQ | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (corpus, bits, cand), rs in sorted(cells.items()):
        itq = cells.get((corpus, bits, "itq"), [])
        val, test = np.array([r["val"] for r in rs]), np.array([r["test"] for r in rs])
        d_val = f"{val.mean() - np.mean([r['val'] for r in itq]):+.4f}" if itq else "–"
        d_test = f"{test.mean() - np.mean([r['test'] for r in itq]):+.4f}" if itq else "–"
        secs = np.median([r["seconds"] for r in rs if "seconds" in r]) if "seconds" in rs[0] else float("nan")
        sd = lambda a: f" ({a.std(ddof=1):.4f})" if len(a) > 1 else ""  # noqa: E731
        lines.append(f"| {corpus} | {bits} | {cand} | {len(rs)} | {val.mean():.4f}{sd(val)} | "
                     f"{test.mean():.4f}{sd(test)} | {d_val} | {d_test} | {secs:.0f} |")
        paired = [r for r in rs if "val_median" in r]  # the same models, thresholded at per-bit medians
        if paired:
            dv = np.mean([r["val_median"] - r["val"] for r in paired])
            dt = np.mean([r["test_median"] - r["test"] for r in paired])
            lines.append(f"| {corpus} | {bits} | {cand}, median thresholds | {len(paired)} | {dv:+.4f} vs zero | "
                         f"{dt:+.4f} vs zero | | | |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", nargs="+", default=["reuters", "20ng", "docstrings", "newsgroups-csv"])
    ap.add_argument("--bits", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--candidates", nargs="+", default=["defaults"], help=f"of {sorted(CANDIDATES)}")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    add_run_args(ap)
    args = ap.parse_args(argv)
    torch_with_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log, md = args.out / "study.jsonl", args.out / "study.md"
    done = {r["key"]: r for r in map(json.loads, log.read_text().splitlines())} if log.is_file() else {}
    data = args.data or default_data_dir()
    scratch = Path(tempfile.gettempdir()) / "nash_index_study"
    scratch.mkdir(exist_ok=True)
    for name in args.corpora:
        corpus = load(name, data, scratch)
        for bits in args.bits:
            for cand in ["cosine", "itq", *args.candidates]:
                for seed in ([0] if cand == "cosine" else args.seeds):
                    key = json.dumps([name, bits, cand, seed])
                    if key in done:
                        continue
                    rec = {"key": key, "corpus": name, "bits": bits, "candidate": cand, "seed": seed,
                           **run_trial(corpus, bits, cand, seed, args.threads)}
                    done[key] = rec
                    with log.open("a") as f:
                        f.write(json.dumps(rec) + "\n")
                    print(f"{name} {bits} {cand} seed {seed}: val {rec['val']:.4f} test {rec['test']:.4f} "
                          f"({rec.get('seconds', 0)} s)", flush=True)
                    md.write_text(summarise(list(done.values())))
    md.write_text(summarise(list(done.values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
