"""Training at scale: NASH's time per epoch and to convergence (its own early stopping) on up to
10^6 generated documents, and precision@100 of held-out queries against sample size, for NASH and
PCA-ITQ: the curve that sets the training sample of ``bench_at_scale.py`` (``DEFAULT_SAMPLE``).

    .venv/bin/python bench/bench_training_scale.py --docs 1e6 --results bench/results

For each sample size (the first s documents of the corpus: the generator draws documents
independently) and each hasher and code length: a default ``HashingPipeline`` is fitted on the
sample (texts + labels, which only select NASH's best epoch; ``--threads`` torch threads), then
encodes the first ``--db`` documents (default: the whole corpus) torch-free, and the held-out
queries are scored against them (precision@100, ties by id). Each point is written to the JSON as
it finishes; ``--resume`` skips the points already there (a long run can be continued).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import at_scale_work as work  # noqa: E402
from at_scale_stages import Stages, log  # noqa: E402
from bench_at_scale import DEFAULT_SAMPLE, corpus_dir, held_out_queries, map_query_classes, write_sample  # noqa: E402
from harness import OUT_DIR, dumps_strict, machine_info, parse_list  # noqa: E402

K = 100


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=float, default=1e6, help="corpus size (the largest sample)")
    p.add_argument("--db", type=float, default=None, help="database documents scored (default: --docs)")
    p.add_argument("--sizes", default="1e4,3e4,1e5,3e5,1e6", help="training sample sizes")
    p.add_argument("--bits", default="32,64")
    p.add_argument("--hashers", default="nash,itq")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="NASH epochs cap (default: the model's own)")
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard-docs", type=int, default=250_000)
    p.add_argument("--out", type=Path, default=Path("/tmp/nash_at_scale"))
    p.add_argument("--results", type=Path, default=OUT_DIR)
    p.add_argument("--name", default="training_scale")
    p.add_argument("--resume", action="store_true", help="keep the points of an earlier run's JSON")
    p.add_argument("--from-at-scale", type=Path, default=None, metavar="JSON",
                   help="take the points of a bench_at_scale.py report made with the same corpus, seed, queries and "
                        "database (its sample is then one point of the curve: the same fit, not run twice)")
    return p.parse_args(argv)


def point(args: argparse.Namespace, run: Path, corpus: Path, size: int, hasher: str, nbits: int,
          queries: Dict[str, Any]) -> Dict[str, Any]:
    """Fit on the first ``size`` documents, encode the database, score the queries."""
    tag = f"{hasher}-{nbits}-{size}"
    sample = run / f"sample-{size}.json"
    if not sample.exists():
        write_sample(corpus, size, args.batch, sample)
    params = {"epochs": args.epochs} if hasher == "nash" and args.epochs else {}
    log(f"{tag}: fit")
    fit = work.in_child(work.fit_pipeline, str(sample), hasher, nbits, args.threads, args.seed,
                        str(run / f"pipe-{tag}"), params, threads=args.threads)
    log(f"{tag}: fitted in {fit['fit_seconds']:.1f} s; encoding {args.db_n:,} documents")
    codes, labels = run / f"codes-{tag}.npy", run / "labels.npy"
    enc = work.in_child(work.encode_corpus, str(run / f"pipe-{tag}"), str(corpus), args.db_n, str(codes),
                        str(labels), args.batch, threads=args.threads)
    map_query_classes(queries, labels)
    prec = work.in_child(work.code_precision, str(run / f"pipe-{tag}"), str(codes), str(labels), queries["texts"],
                         queries["classes"], K, threads=args.threads)
    shutil.rmtree(run / f"pipe-{tag}", ignore_errors=True)
    codes.unlink()
    log(f"{tag}: precision@{K} {prec['precision']:.4f}")
    return {"hasher": hasher, "nbits": nbits, "sample": size, "precision": prec["precision"],
            "precision_expected": prec["precision_expected"], "fit_seconds": fit["fit_seconds"],
            "fit_peak_rss_gib": fit["peak_rss_gib"], "train_info": fit["train_info"], "training": fit["training"],
            "encode_docs_per_s": enc["encode_docs_per_s"]}


def at_scale_points(at_scale: Dict[str, Any], n: int, args: argparse.Namespace,
                    have: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The rows of a bench_at_scale.py report as points of this curve, if it measured the same thing:
    same corpus (documents, seed), the whole corpus as database, the same held-out queries."""
    same = (at_scale["docs"] == n == args.db_n and at_scale["seed"] == args.seed
            and at_scale["queries"] == args.queries and at_scale["threads"] == args.threads)
    if not same:
        raise SystemExit(f"--from-at-scale: that run differs (docs {at_scale['docs']}, seed {at_scale['seed']}, "
                         f"queries {at_scale['queries']}, threads {at_scale['threads']}); it cannot be a point here")
    out = []
    for row in at_scale["rows"]:
        if any(p["sample"] == at_scale["sample"] and p["hasher"] == row["hasher"] and p["nbits"] == row["nbits"]
               for p in have):
            continue
        out.append({"hasher": row["hasher"], "nbits": row["nbits"], "sample": at_scale["sample"],
                    "precision": row["precision"], "precision_expected": row["precision_expected"],
                    "fit_seconds": row["fit_seconds"], "fit_peak_rss_gib": None, "train_info": row["train_info"],
                    "training": row["training"], "encode_docs_per_s": row["encode_docs_per_s"],
                    "from": at_scale["command"]})
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    n = int(args.docs)
    args.db_n = min(int(args.db or n), n)
    sizes = sorted({min(int(s), n) for s in parse_list(args.sizes)})
    bits, hashers = parse_list(args.bits), [h.strip() for h in args.hashers.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = corpus_dir(args, n, Stages())
    run = args.out / f"training-{n}-seed{args.seed}"
    run.mkdir(parents=True, exist_ok=True)
    (run / "labels.npy").unlink(missing_ok=True)  # rewritten for this --db by the first encode
    queries = held_out_queries(n, args.queries, args.seed)
    json_path = args.results / f"{args.name}.json"
    points: List[Dict[str, Any]] = []
    if args.resume and json_path.exists():
        points = [p for p in json.loads(json_path.read_text())["points"]]
    if args.from_at_scale:
        points += at_scale_points(json.loads(args.from_at_scale.read_text()), n, args, points)
    report = {"docs": n, "db": args.db_n, "queries": args.queries, "k": K, "threads": args.threads, "seed": args.seed,
              "default_sample": DEFAULT_SAMPLE, "command": "bench/bench_training_scale.py " + " ".join(
                  sys.argv[1:] if argv is None else argv), "machine": machine_info(), "points": points}
    t0 = time.perf_counter()
    for size in sizes:
        for hasher in hashers:
            for nbits in bits:
                if any(p["sample"] == size and p["hasher"] == hasher and p["nbits"] == nbits for p in points):
                    continue
                points.append(point(args, run, corpus, size, hasher, nbits, queries))
                _write(report, args.results, args.name)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    _write(report, args.results, args.name)
    shutil.rmtree(run, ignore_errors=True)
    log(f"done: {args.results / args.name}.{{json,md,png}}")
    return 0


def _write(report: Dict[str, Any], results: Path, name: str) -> None:
    from at_scale_training_report import training_markdown, training_plot

    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(dumps_strict(report, indent=1) + "\n")
    (results / f"{name}.md").write_text(training_markdown(report) + "\n")
    training_plot(report, results / f"{name}.png")


if __name__ == "__main__":
    sys.exit(main())
