"""One text query end to end (vectorize, encode, search), and the bulk vectorize + encode throughput.

For each hasher (NASH, PCA-ITQ; 64 bits) a ``HashingPipeline`` is fitted on the 20 Newsgroups
training texts, then holds N documents (``--docs``): the 18,846 20 Newsgroups texts (train and
test), cycled, each copy after the first perturbed by dropping every word with probability 0.1
(seeded per copy), so that copies get nearby rather than identical codes. The pipeline is saved
and loaded from disk; queries are the first 200 characters of held-out 20 Newsgroups test texts.

Per query: p50 / p99 of ``pipe.search([q], k=10)`` and of each stage (vectorize, encode, search in
the document store), new code and the previous code's stages re-enacted in the same run and
alternated query by query (scikit-learn's ``CountVectorizer`` + ``tfidf_rows``; the PCA
projection that multiplies by the transposed components and recomputes ``mean @ components.T``;
NASH's first layer as one scipy product): "old" is a stage-by-stage re-enactment, without the
pipeline's other overheads that changed. Checks: the single-query results equal the batch
path's (``pipe.search(all queries)``), and the old stages give the same codes.

Bulk: ``pipe.encode(texts)`` (4,096 per batch) on 20 Newsgroups and Reuters texts, in one process
and with ``n_jobs=--jobs`` worker processes: documents/s and tokens/s by the wall clock, documents
per CPU second (all processes), and the old stages beside them.

    python bench/bench_query.py                     # 1e5 and 1e6 documents (~15 minutes on 2 cores)
    python bench/bench_query.py --docs 2000 --queries 30 --epochs 1 --out /tmp/q   # a smoke run
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from nash_index.baselines import Projection  # noqa: E402
from nash_index.datasets import load_raw  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402
from nash_index.text.term_counts import TOKEN_PATTERN  # noqa: E402

K = 10
NBITS = 64
STAGES = ("vectorize", "encode", "search", "total")


def corpus_texts(name: str, data_dir: Any) -> Any:
    return load_raw(name, data_dir)


def perturbed(texts: Sequence[str], n: int, start: int = 0):
    """Documents ``start .. start + n - 1`` of the cycled corpus (copy c > 0 drops 10% of the words)."""
    for j in range(start, start + n):
        copy, text = divmod(j, len(texts))
        if copy == 0:
            yield texts[text]
        else:
            rng = random.Random(j)
            yield " ".join(w for w in texts[text].split() if rng.random() >= 0.1)


def build(hasher: str, n_docs: int, train: Any, pool: List[str], args: Any, where: Path) -> Dict[str, Any]:
    params = {"epochs": args.epochs} if hasher == "nash" else None
    t0 = time.perf_counter()
    pipe = HashingPipeline(nbits=NBITS, hasher=hasher, verbose=False, hasher_params=params)
    pipe.fit(train.train_texts[:args.train_docs], train.train_labels[:args.train_docs])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty posts: indexed under the blank code, as intended
        for s in range(0, n_docs, 50_000):
            pipe.add(list(perturbed(pool, min(50_000, n_docs - s), s)), n_jobs=args.jobs)
    add_s = time.perf_counter() - t0
    path = where / f"{hasher}-{n_docs}"
    pipe.save(path)
    return {"path": path, "fit_s": fit_s, "add_s": add_s}


# ---- the previous code's stages, re-enacted -------------------------------------------
def _direct_projection(self: Projection, X: Any) -> np.ndarray:
    return np.asarray(X @ self.components.T, dtype=np.float64) - self.mean @ self.components.T


def old_encode(encoder: Any, rows: Any) -> np.ndarray:
    if hasattr(encoder, "layers"):  # NumpyEncoder: every layer a plain product (scipy for the sparse row)
        a = encoder._check(rows)
        for W, b in encoder.layers:
            a = np.maximum(np.asarray(a @ W) + b, 0.0)
        scores = np.asarray(a @ encoder.head[0]) + encoder.head[1]
        return np.packbits((scores > encoder.thresholds).astype(np.uint8), axis=1)
    kept = Projection.transform
    Projection.transform = _direct_projection  # type: ignore[method-assign]
    try:
        return encoder.encode(rows)
    finally:
        Projection.transform = kept  # type: ignore[method-assign]


def stage_fns(pipe: Any) -> Dict[str, Dict[str, Callable[[Any], Any]]]:
    """Per path, the three stages (each fed the previous one's output) and the whole query."""
    vec, enc, docs = pipe.featurizer.vectorizer, pipe.encoder, pipe.documents
    new = {"vectorize": lambda q: vec.transform([q], canonical=True), "encode": enc.encode,
           "search": lambda codes: docs.search(codes, K), "total": lambda q: pipe.search([q], K)}
    old = {"vectorize": lambda q: vec.sklearn_transform([q]), "encode": lambda rows: old_encode(enc, rows),
           "search": lambda codes: docs.search(codes, K), "total": None}
    return {"new": new, "old": old}


def time_queries(fns: Dict[str, Dict[str, Callable[[Any], Any]]], queries: List[str], repeats: int) -> Dict[str, Any]:
    """Per path: each stage timed on the previous stage's output, and the whole query (the
    pipeline's ``search`` for the new path; the sum of the stages for the re-enacted old one),
    paths alternated query by query."""
    times: Dict[str, Dict[str, List[float]]] = {p: {s: [] for s in STAGES} for p in fns}
    cpu: List[float] = []  # CPU time of the new pipeline's search: what a shared machine's contention leaves alone
    for _ in range(repeats):
        for q in queries:
            for path, stage_fn in fns.items():
                value, spent = q, 0.0
                for stage in STAGES[:3]:
                    t0 = time.perf_counter()
                    value = stage_fn[stage](value)
                    times[path][stage].append(time.perf_counter() - t0)
                    spent += times[path][stage][-1]
                if stage_fn["total"] is None:
                    times[path]["total"].append(spent)
                else:
                    c0, t0 = time.thread_time(), time.perf_counter()
                    stage_fn["total"](q)
                    times[path]["total"].append(time.perf_counter() - t0)
                    cpu.append(time.thread_time() - c0)
    out: Dict[str, Any] = {}
    for path, by_stage in times.items():
        out[path] = {"p50_ms": float(np.median(by_stage["total"])) * 1e3,
                     "p99_ms": float(np.percentile(by_stage["total"], 99)) * 1e3,
                     "stage_p50_ms": {s: float(np.median(by_stage[s])) * 1e3 for s in STAGES[:3]},
                     "stage_p99_ms": {s: float(np.percentile(by_stage[s], 99)) * 1e3 for s in STAGES[:3]}}
    out["new"]["cpu_p50_ms"] = float(np.median(cpu)) * 1e3
    return out


def check_results(pipe: Any, queries: List[str]) -> Dict[str, Any]:
    """Single-query results against the batch path, and old-stage codes against new ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = pipe.search(queries, K)
        singles = [pipe.search([q], K) for q in queries]
    vec, enc = pipe.featurizer.vectorizer, pipe.encoder
    rows = vec.transform(queries)
    new_codes, old_codes = enc.encode(rows), old_encode(enc, vec.sklearn_transform(queries))
    same_rows = (rows != vec.sklearn_transform(queries)).nnz == 0
    return {"single_equals_batch": all(np.array_equal(s.ids[0], batch.ids[i]) and
                                       np.array_equal(s.distances[0], batch.distances[i])
                                       for i, s in enumerate(singles)),
            "old_codes_equal": bool(np.array_equal(new_codes, old_codes)), "old_rows_equal": bool(same_rows),
            "queries": len(queries)}


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the workers of n_jobs)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], Any], repeats: int) -> Dict[str, float]:
    """Median wall and CPU seconds of ``fn()`` over ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
    return {"wall": float(np.median(wall)), "cpu": float(np.median(cpu))}


def bulk(pipe: Any, texts: List[str], name: str, repeats: int, jobs: int) -> Dict[str, Any]:
    """Docs/s of ``pipe.encode`` (one process and ``jobs`` workers; wall clock, and per CPU second
    so that a shared machine's contention shows), the vectorizer alone, and the old stages."""
    import re
    tokens = sum(len(re.findall(TOKEN_PATTERN, t.lower())) for t in texts)
    vec, enc = pipe.featurizer.vectorizer, pipe.encoder
    n = len(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = timed(lambda: pipe.encode(texts), repeats)
        many = timed(lambda: pipe.encode(texts, n_jobs=jobs), repeats)
        same = bool(np.array_equal(pipe.encode(texts), pipe.encode(texts, n_jobs=jobs)))
        old = timed(lambda: [old_encode(enc, vec.sklearn_transform(texts[s:s + 4096])) for s in range(0, n, 4096)], 1)
        vec_only = timed(lambda: [vec.transform(texts[s:s + 4096]) for s in range(0, n, 4096)], repeats)
    return {"corpus": name, "docs": n, "tokens_per_doc": tokens / n, "jobs": jobs, "jobs_codes_equal": same,
            "new_docs_per_s": n / one["wall"], "new_tokens_per_s": tokens / one["wall"],
            "new_docs_per_cpu_s": n / one["cpu"], "jobs_docs_per_s": n / many["wall"],
            "jobs_docs_per_cpu_s": n / many["cpu"], "vectorize_docs_per_s": n / vec_only["wall"],
            "old_docs_per_s": n / old["wall"], "old_docs_per_cpu_s": n / old["cpu"]}


def markdown(report: Dict[str, Any]) -> str:
    lines = ["# One text query end to end (bench/bench_query.py)", "", report["setup"], "",
             "| hasher | docs | index | path | p50 ms | p99 ms | CPU p50 ms | vectorize | encode | search | single = batch | "
             "old codes equal |", "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in report["queries"]:
        for path in ("new", "old"):
            t = r[path]
            s = t["stage_p50_ms"]
            cpu = f"{t['cpu_p50_ms']:.3f}" if "cpu_p50_ms" in t else "–"
            lines.append(f"| {r['hasher']} | {r['docs']:,} | {r['index']} | {path} | {t['p50_ms']:.3f} | {t['p99_ms']:.3f} | {cpu} | "
                         f"{s['vectorize']:.3f} | {s['encode']:.3f} | {s['search']:.3f} | "
                         f"{r['checks']['single_equals_batch']} | {r['checks']['old_codes_equal']} |")
    lines += ["", "Bulk vectorize + encode (`pipe.encode`, 4,096 texts per batch; docs/s by the wall clock, and "
              "docs per CPU second of all processes, which a shared machine's contention does not change):", "",
              "| hasher | corpus | docs | tokens/doc | 1 process docs/s | tokens/s | docs/CPU-s | n_jobs docs/s | "
              "n_jobs docs/CPU-s | same codes | vectorize only docs/s | old docs/s | old docs/CPU-s |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for b in report["bulk"]:
        lines.append(f"| {b['hasher']} | {b['corpus']} | {b['docs']:,} | {b['tokens_per_doc']:.0f} | "
                     f"{b['new_docs_per_s']:,.0f} | {b['new_tokens_per_s']:,.0f} | {b['new_docs_per_cpu_s']:,.0f} | "
                     f"{b['jobs_docs_per_s']:,.0f} ({b['jobs']}) | {b['jobs_docs_per_cpu_s']:,.0f} | {b['jobs_codes_equal']} | "
                     f"{b['vectorize_docs_per_s']:,.0f} | {b['old_docs_per_s']:,.0f} | {b['old_docs_per_cpu_s']:,.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", default="1e5,1e6", help="indexed documents, comma-separated (1e5, 100K, 1M)")
    ap.add_argument("--hashers", default="nash,itq")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the queries")
    ap.add_argument("--epochs", type=int, default=5, help="NASH training epochs")
    ap.add_argument("--train-docs", type=int, default=None, help="fit on the first N training texts (default all)")
    ap.add_argument("--bulk-docs", type=int, default=16384, help="texts per corpus of the bulk measurement (0: none)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes of the bulk encode (and of the adds)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--name", default="query")
    ap.add_argument("--out", default=str(harness.REPO / "bench" / "results"))
    args = ap.parse_args(argv)
    data_dir = args.data_dir or harness.default_data_dir()
    ng = corpus_texts("20ng", data_dir)
    pool = ng.train_texts + ng.test_texts
    queries = [t[:200] for t in ng.test_texts[-args.queries:]]
    report: Dict[str, Any] = {"queries": [], "bulk": [], "setup": (
        f"{NBITS} bits, k={K}; pipelines fitted on the 20 Newsgroups training texts (NASH: {args.epochs} epochs); "
        f"indexed: the 18,846 20 Newsgroups texts cycled, copies after the first with 10% of words dropped; "
        f"saved and loaded from disk; {len(queries)} queries (first 200 characters of test texts) x {args.repeats} passes; "
        "old = the previous code's stages re-enacted in the same run, alternated query by query (its total is the sum "
        "of its stages: the pipeline overhead it had is not re-enacted); stage columns are p50s; times in ms.")}
    with tempfile.TemporaryDirectory(prefix="bench_query_") as tmp:
        for n_docs in harness.parse_list(args.docs):
            for hasher in args.hashers.split(","):
                built = build(hasher, n_docs, ng, pool, args, Path(tmp))
                pipe = HashingPipeline.load(built["path"])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    timing = time_queries(stage_fns(pipe), queries, args.repeats)
                record = {"hasher": hasher, "docs": n_docs, "index": type(pipe.index).__name__,
                          "fit_s": built["fit_s"], "add_s": built["add_s"], **timing,
                          "checks": check_results(pipe, queries)}
                report["queries"].append(record)
                print(f"{hasher} {n_docs:,} docs ({record['index']}): new p50 {timing['new']['p50_ms']:.3f} ms "
                      f"(stages {timing['new']['stage_p50_ms']}), old p50 {timing['old']['p50_ms']:.3f} ms; "
                      f"checks {record['checks']}", flush=True)
                if args.bulk_docs and n_docs == harness.parse_list(args.docs)[0]:
                    reuters = corpus_texts("reuters", data_dir)
                    for name, texts in (("20ng", ng.train_texts), ("reuters", reuters.train_texts)):
                        b = {"hasher": hasher, **bulk(pipe, texts[:args.bulk_docs], name, args.repeats, args.jobs)}
                        report["bulk"].append(b)
                        print(f"bulk {hasher} {name}: {b['new_docs_per_s']:,.0f} docs/s ({b['new_docs_per_cpu_s']:,.0f} "
                              f"per CPU-s), {args.jobs} jobs {b['jobs_docs_per_s']:,.0f} docs/s, "
                              f"old {b['old_docs_per_s']:,.0f} docs/s", flush=True)
                del pipe
    report["load_average_at_end"] = list(os.getloadavg())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    report["setup"] += f" Load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} cores."
    harness.write_report(report, Path(args.out), args.name, markdown(report))
    return report


if __name__ == "__main__":
    main()
