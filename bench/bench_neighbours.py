"""NASH's neighbour graph at scale: recall of the true cosine 10-NN, wall time, and precision@100.

Three parts (each optional):

* ``--sizes``: the graph of a stand-in corpus of n TF-IDF rows (``neighbour_corpus.py``: real
  20 Newsgroups documents resampled and perturbed) by the code path and, at ``--old-at`` rows,
  by the previous default (exact up to 20,000 rows, a random sample of 20,000 candidates above,
  re-implemented here as the reference), both timed in the same run. Recall: the fraction of the
  returned neighbours whose cosine is at least that of the true 10th neighbour, over a seeded
  sample of ``--sample`` rows whose true neighbours come from brute force.
* ``--settings``: recall and time of other code settings at ``--settings-at`` rows.
* ``--quality``: precision@100 of NASH (defaults) on Reuters and 20 Newsgroups at 32 and 64
  bits trained with the exact graph (what ``auto`` gives at this size) and with the code path
  forced; the code graph's recall on the corpus is reported beside it.

Usage::

    python bench/bench_neighbours.py --sizes 1e4 1e5 1e6 --old-at 1e5 --threads 2
    python bench/bench_neighbours.py --settings 256:32:2:4096:1 128:32:2:4096:1 --settings-at 1e5
    python bench/bench_neighbours.py --quality

Results go to ``bench/results/neighbours.{json,md}`` (parts not run keep their previous rows).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any, Dict, List

import numpy as np
import scipy.sparse as sp

from harness import RESULTS_DIR, default_data_dir, write_report
from nash_index.checks import unit_rows
from nash_index.datasets import load_corpus
from nash_index.evaluation import precision_at_k
from nash_index.models import NASH
from nash_index.models import nash as nash_module
from nash_index.models.neighbours import nearest_neighbours
from neighbour_corpus import perturbed_corpus

K = 10
OLD_CANDIDATES = 20_000


def true_kth_similarity(U: sp.csr_matrix, rows: np.ndarray, k: int = K) -> np.ndarray:
    """Brute force: the cosine of each sampled row's true k-th neighbour (itself excluded)."""
    UT = U.T.tocsr()
    out = []
    for start in range(0, rows.size, 100):
        part = rows[start:start + 100]
        sims = (U[part] @ UT).toarray()
        sims[np.arange(part.size), part] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out.append(np.take_along_axis(sims, top, axis=1).min(axis=1))
    return np.concatenate(out)


def recall(U: sp.csr_matrix, graph: np.ndarray, rows: np.ndarray, kth: np.ndarray) -> float:
    """Fraction of the returned neighbours at least as similar as the true k-th (ties count)."""
    got = np.stack([(U[graph[r]] @ U[r].T).toarray().ravel() for r in rows])
    return float(np.mean(got >= kth[:, None] - 1e-6))


def old_graph(X: Any, k: int, seed: int = 0) -> np.ndarray:
    """The previous default: exact against a seeded sample of 20,000 candidates (all rows below)."""
    U = unit_rows(X)
    n = U.shape[0]
    pool = np.arange(n) if n <= OLD_CANDIDATES else \
        np.sort(np.random.default_rng(seed).choice(n, OLD_CANDIDATES, replace=False))
    CT = U[pool].T.tocsr()
    position = np.full(n, -1)
    position[pool] = np.arange(pool.size)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, 1024):
        stop = min(start + 1024, n)
        sims = (U[start:stop] @ CT).toarray()
        own = position[start:stop]
        inside = np.flatnonzero(own >= 0)
        sims[inside, own[inside]] = -np.inf
        out[start:stop] = pool[np.argsort(-sims, axis=1, kind="stable")[:, :k]]
    return out


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def stand_in(n: int, seed: int) -> sp.csr_matrix:
    corpus = load_corpus("20ng", default_data_dir())
    return perturbed_corpus(corpus.X_train, corpus.y_train, n, seed=seed)


def run_sizes(sizes: List[int], old_at: int, threads: int, sample: int, seed: int) -> List[Dict[str, Any]]:
    rows_out = []
    for n in sizes:
        X = stand_in(n, seed)
        U = unit_rows(X)
        rows = np.sort(np.random.default_rng(seed + 1).choice(n, min(sample, n), replace=False))
        kth = true_kth_similarity(U, rows)
        for name in ("codes", "old (sampled 20k)") if n == old_at else ("codes",):
            t0 = time.perf_counter()
            graph = nearest_neighbours(X, K, method="codes", num_threads=threads, seed=seed) if name == "codes" \
                else old_graph(X, K, seed)
            seconds = time.perf_counter() - t0
            row = {"n": n, "method": name, "threads": threads if name == "codes" else 1,
                   "seconds": round(seconds, 1), "recall": round(recall(U, graph, rows, kth), 4),
                   "median_true_10th_cosine": round(float(np.median(kth)), 3), "sample": rows.size,
                   "peak_rss_gb": round(peak_rss_gb(), 2)}
            print(json.dumps(row), flush=True)
            rows_out.append(row)
    return rows_out


def run_settings(settings: List[str], n: int, threads: int, sample: int, seed: int) -> List[Dict[str, Any]]:
    X = stand_in(n, seed)
    U = unit_rows(X)
    rows = np.sort(np.random.default_rng(seed + 1).choice(n, min(sample, n), replace=False))
    kth = true_kth_similarity(U, rows)
    out = []
    for setting in settings:
        nbits, candidates, probes, cell_rows, refine = (int(v) for v in setting.split(":"))
        t0 = time.perf_counter()
        graph = nearest_neighbours(X, K, method="codes", nbits=nbits, candidates=candidates, probes=probes,
                                   cell_rows=cell_rows, refine=refine, num_threads=threads, seed=seed)
        row = {"n": n, "nbits": nbits, "candidates": candidates, "probes": probes, "cell_rows": cell_rows,
               "refine": refine, "threads": threads, "seconds": round(time.perf_counter() - t0, 1),
               "recall": round(recall(U, graph, rows, kth), 4)}
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def run_quality(seed: int) -> List[Dict[str, Any]]:
    """NASH with the exact graph and with the code graph forced (patched into ``models.nash``)."""
    out = []
    exact = nash_module.nearest_neighbours
    for name in ("reuters", "20ng"):
        corpus = load_corpus(name, default_data_dir())
        U = unit_rows(corpus.X_train)
        rows = np.arange(U.shape[0])
        kth = true_kth_similarity(U, rows)
        code_graph = nearest_neighbours(corpus.X_train, K, method="codes", seed=seed)
        code_recall = recall(U, code_graph, rows, kth)
        for bits in (32, 64):
            for graph in ("exact", "codes"):
                nash_module.nearest_neighbours = exact if graph == "exact" else \
                    (lambda X, k, **kw: nearest_neighbours(X, k, method="codes", **kw))
                t0 = time.perf_counter()
                model = NASH(nbits=bits, seed=seed, verbose=False).fit(
                    corpus.X_train, corpus.y_train, corpus.X_val, corpus.y_val)
                p = precision_at_k(model.encode(corpus.X_train), corpus.y_train,
                                   model.encode(corpus.X_test), corpus.y_test, k=100)
                row = {"corpus": name, "bits": bits, "graph": graph, "precision_at_100": round(float(p.index_order), 4),
                       "graph_recall": 1.0 if graph == "exact" else round(code_recall, 4),
                       "train_seconds": round(time.perf_counter() - t0, 1)}
                print(json.dumps(row), flush=True)
                out.append(row)
    nash_module.nearest_neighbours = exact
    return out


def _old_vs_new(rows: List[Dict[str, Any]]) -> List[str]:
    """The old path measured beside the new at the same n, and extrapolated to the largest n (its
    cost is linear in n above 20,000 rows: every row against 20,000 candidates)."""
    out = []
    for old in (r for r in rows if r["method"] != "codes"):
        new = next((r for r in rows if r["method"] == "codes" and r["n"] == old["n"]), None)
        if new is None:
            continue
        largest = max((r for r in rows if r["method"] == "codes"), key=lambda r: r["n"])
        scale = largest["n"] / old["n"]
        out.append(f"Same run, n = {old['n']:,}: old {old['seconds']} s (1 thread) vs codes {new['seconds']} s "
                   f"({new['threads']} threads), {old['seconds'] / new['seconds']:.1f}x; old extrapolated to "
                   f"n = {largest['n']:,}: ~{old['seconds'] * scale:,.0f} s vs codes measured {largest['seconds']} s.")
    return out


def markdown(report: Dict[str, Any]) -> str:
    lines = ["# NASH's neighbour graph at scale", "",
             "Stand-in corpus: real 20 Newsgroups TF-IDF rows resampled and perturbed "
             "(`bench/neighbour_corpus.py`). Recall: share of returned neighbours at least as similar "
             "as the true 10th (brute force on a seeded sample). Shared 2-core machine: times are noisy.", ""]
    if report.get("sizes"):
        lines += ["## Graph by size", "", "| n | method | threads | seconds | recall@10 | median true 10th cos | peak RSS GB |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['n']:,} | {r['method']} | {r['threads']} | {r['seconds']} | {r['recall']:.3f} | "
                  f"{r['median_true_10th_cosine']} | {r['peak_rss_gb']} |" for r in report["sizes"]]
        lines += [""] + _old_vs_new(report["sizes"])
        lines.append("")
    if report.get("settings"):
        lines += ["## Code settings", "", "| n | bits | candidates | probes | cell rows | refine | seconds | recall@10 |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['n']:,} | {r['nbits']} | {r['candidates']} | {r['probes']} | {r['cell_rows']} | "
                  f"{r['refine']} | {r['seconds']} | {r['recall']:.3f} |" for r in report["settings"]]
        lines.append("")
    if report.get("quality"):
        lines += ["## NASH precision@100 (test queries, train database), exact vs code graph", "",
                  "| corpus | bits | graph | graph recall | precision@100 | train s |", "|---|---:|---|---:|---:|---:|"]
        lines += [f"| {r['corpus']} | {r['bits']} | {r['graph']} | {r['graph_recall']:.3f} | "
                  f"{r['precision_at_100']:.4f} | {r['train_seconds']} |" for r in report["quality"]]
        lines.append("")
    lines += [f"- {note}" for note in report.get("notes", [])] + [""]
    lines += ["Commands: " + "; ".join(f"`{c}`" for c in report.get("commands", []))]
    return "\n".join(lines)


def collect(logs: List[str]) -> Dict[str, Any]:
    """The rows that runs printed (one JSON object a line), by part; a later row of the same
    case replaces an earlier one. For runs stopped before they wrote the report."""
    parts: Dict[str, Dict[tuple, Dict[str, Any]]] = {"sizes": {}, "settings": {}, "quality": {}}
    for log in logs:
        for line in open(log):
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if "method" in row:
                parts["sizes"][(row["n"], row["method"])] = row
            elif "graph" in row:
                parts["quality"][(row["corpus"], row["bits"], row["graph"])] = row
            else:
                parts["settings"][tuple(row[key] for key in ("n", "nbits", "candidates", "probes", "cell_rows", "refine"))] = row
    return {part: [rows[key] for key in sorted(rows)] for part, rows in parts.items() if rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=float, default=[])
    parser.add_argument("--old-at", type=float, default=0)
    parser.add_argument("--settings", nargs="*", default=[])
    parser.add_argument("--settings-at", type=float, default=1e5)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="neighbours")
    parser.add_argument("--collect", nargs="*", default=[],
                        help="only rebuild the report from the JSON rows these logs of earlier runs printed")
    args = parser.parse_args()
    path = RESULTS_DIR / f"{args.name}.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    report.setdefault("commands", [])
    command = "python bench/bench_neighbours.py " + " ".join(sys.argv[1:])
    if command not in report["commands"]:
        report["commands"].append(command)
    if args.collect:
        report.update(collect(args.collect))
    if args.sizes:  # rows of other sizes (earlier runs) stay
        new = run_sizes([int(n) for n in args.sizes], int(args.old_at), args.threads, args.sample, args.seed)
        keys = {(r["n"], r["method"]) for r in new}
        report["sizes"] = sorted([r for r in report.get("sizes", []) if (r["n"], r["method"]) not in keys] + new,
                                 key=lambda r: (r["n"], r["method"]))
    if args.settings:
        report["settings"] = run_settings(args.settings, int(args.settings_at), args.threads, args.sample, args.seed)
    if args.quality:
        report["quality"] = run_quality(args.seed)
    write_report(report, RESULTS_DIR, args.name, markdown(report))


if __name__ == "__main__":
    main()
