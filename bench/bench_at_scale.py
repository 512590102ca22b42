"""The whole path at scale, one command: generate a labelled corpus -> fit the vectorizer and the
hashers (NASH with its defaults, PCA-ITQ) on a sample -> encode every document torch-free (one
process, and ``encode_to_shards`` on Ray) -> build MIH files from the codes on disk -> serve text
queries from the saved pipeline -> precision@100 of held-out queries (codes and exact TF-IDF cosine).

    .venv/bin/python bench/bench_at_scale.py --docs 1e5                      # ~minutes
    .venv/bin/python bench/bench_at_scale.py --docs 1e7 --results bench/results

Each stage prints progress lines (stderr) and is recorded with its time, throughput and peak RSS
(stages run in child processes: a stage's peak is its child's ``VmHWM``; Ray's workers are sampled).
Memory stays bounded by the batch, the sample and the codes: no stage holds every document's
TF-IDF rows. Generated data lives under ``--out`` (default ``/tmp/nash_at_scale``) and is reused by
later runs with the same ``--docs`` and ``--seed``.

Training sample: the first ``--sample`` documents of the corpus (the generator draws documents
independently, so they are a uniform sample). The default, 10^5, is a proposal: the largest sample
whose fit stays within minutes once the neighbour graph scales (today it costs ~1 s per 1,000
documents above 2x10^4), to be confirmed by ``bench_training_scale.py`` (precision@100 against
sample size, ``bench/results/training_scale.md``). Reports: ``<results>/<name>.{json,md,png}``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import at_scale_work as work  # noqa: E402
from at_scale_report import markdown, plot, targets  # noqa: E402
from at_scale_stages import ProcessTreeMemory, Stages, log  # noqa: E402
from harness import OUT_DIR, machine_info, parse_list, write_report  # noqa: E402

DEFAULT_SAMPLE = 100_000
#: What the build stage measures of the index against a FlatIndex (at_scale_work.index_versus_flat).
KNN_KEYS = ("index_kind", "duplicate_share", "knn_index_p50_ms", "knn_flat_p50_ms", "knn_speedup", "knn_equal_flat")
K = 100


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=float, default=1e5, help="documents in the corpus (1e5, 1e7, ...)")
    p.add_argument("--out", type=Path, default=Path("/tmp/nash_at_scale"), help="generated data (corpus, codes, indexes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample", type=float, default=DEFAULT_SAMPLE, help="training documents (capped at --docs)")
    p.add_argument("--queries", type=int, default=1000, help="held-out labelled queries (precision@100)")
    p.add_argument("--latency-queries", type=int, default=300, help="single text queries timed per pipeline")
    p.add_argument("--bits", default="32,64")
    p.add_argument("--hashers", default="nash,itq")
    p.add_argument("--threads", type=int, default=2, help="training threads and BLAS threads of each stage")
    p.add_argument("--jobs", type=int, default=2, help="worker processes of the one-process encode (n_jobs)")
    p.add_argument("--batch", type=int, default=10_000, help="documents per encoded / vectorized batch")
    p.add_argument("--ray", default="nash:64", help="hasher:bits encoded again by encode_to_shards ('' = none)")
    p.add_argument("--ray-workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="NASH epochs cap (default: the model's own)")
    p.add_argument("--no-cosine", action="store_true", help="skip the exact cosine pass")
    p.add_argument("--shard-docs", type=int, default=250_000, help="documents per JSONL file (~250 MB: bounds a Ray read task)")
    p.add_argument("--results", type=Path, default=OUT_DIR, help="report folder (bench/results for the tracked one)")
    p.add_argument("--name", default="at_scale")
    p.add_argument("--keep", action="store_true", help="keep codes, indexes and pipelines (the corpus is always kept)")
    return p.parse_args(argv)


# ---- data ----------------------------------------------------------------------------------------
def corpus_dir(args: argparse.Namespace, n: int, stages: Stages) -> Path:
    """The corpus under --out, generated unless a complete one with the same size and seed is there."""
    import generate_corpus

    path = args.out / f"corpus-{n}-seed{args.seed}"
    if (path / "meta.json").exists():
        log(f"corpus: reusing {path}")
        return path
    shutil.rmtree(path, ignore_errors=True)
    with stages.run("generate corpus", docs=n):
        generate_corpus.write_corpus(n, args.seed, path, args.shard_docs, 2)
    return path


def held_out_queries(n_docs: int, count: int, seed: int) -> Dict[str, Any]:
    """Documents n_docs, n_docs + 1, ... of the same generator: same distribution, not in the corpus."""
    import generate_corpus

    texts, labels = generate_corpus.generate(count, seed, start=n_docs)
    return {"texts": list(texts), "labels": np.asarray(labels).tolist()}


def write_sample(corpus: Path, size: int, batch: int, path: Path) -> int:
    texts: List[str] = []
    labels: List[Any] = []
    for _, t, lab in work.corpus_batches(str(corpus), batch):
        texts += t[:size - len(texts)]
        labels += lab[:size - len(labels)]
        if len(texts) >= size:
            break
    path.write_text(json.dumps({"texts": texts, "labels": labels}))
    return len(texts)


# ---- stages per pipeline ----------------------------------------------------------------------------
def run_pipeline(args: argparse.Namespace, run: Path, corpus: Path, n: int, hasher: str, nbits: int,
                 queries: Dict[str, Any], stages: Stages) -> Dict[str, Any]:
    tag = f"{hasher}-{nbits}"
    pipe_dir, codes, index = run / f"pipe-{tag}", run / f"codes-{tag}.npy", run / f"index-{tag}.mih"
    labels_file = str(run / "labels.npy")
    params = {"epochs": args.epochs} if hasher == "nash" and args.epochs else {}
    row: Dict[str, Any] = {"hasher": hasher, "nbits": nbits}
    with stages.run(f"fit {tag}", docs=args.sample_n, hasher=hasher, nbits=nbits) as rec:
        rec.update(work.in_child(work.fit_pipeline, str(run / "sample.json"), hasher, nbits, args.threads,
                                 args.seed, str(pipe_dir), params, threads=args.threads))
    row["fit_seconds"], row["train_info"], row["training"] = rec["fit_seconds"], rec.pop("train_info"), rec.pop("training")
    with stages.run(f"encode {tag} ({args.jobs} processes)", docs=n, hasher=hasher, nbits=nbits) as rec:
        rec.update(work.in_child(work.encode_corpus, str(pipe_dir), str(corpus), n, str(codes), labels_file,
                                 args.batch, args.jobs, threads=args.threads))
    row["encode_docs_per_s"], row["encode_torch_free"] = rec["encode_docs_per_s"], not rec["imported_torch"]
    row["encode_wall_docs_per_s"] = rec["docs_per_s"]  # with reading the JSONL and the child's start
    map_query_classes(queries, Path(labels_file))  # the first encode wrote the database's classes
    with stages.run(f"build MIH {tag}", docs=n, hasher=hasher, nbits=nbits) as rec:
        rec.update(work.in_child(work.build_index, str(codes), str(index), threads=args.threads))
    row["index_bytes"] = rec["index_bytes"]
    row.update({key: rec[key] for key in KNN_KEYS if key in rec})
    latency_queries = queries["texts"][:args.latency_queries]
    with stages.run(f"serve {tag}", docs=None, hasher=hasher, nbits=nbits) as rec:
        rec.update(work.in_child(work.serve_queries, str(pipe_dir), str(index), latency_queries, 10,
                                 threads=args.threads))
    row.update({key: rec[key] for key in ("p50_ms", "p99_ms", "single_equals_batch")})
    row["serve_torch_free"] = not rec["imported_torch"]
    with stages.run(f"precision {tag}", docs=None, hasher=hasher, nbits=nbits) as rec:
        rec.update(work.in_child(work.code_precision, str(pipe_dir), str(codes), labels_file, queries["texts"],
                                 queries["classes"], K, threads=args.threads))
    row["precision"], row["precision_expected"] = rec["precision"], rec["precision_expected"]
    log(f"{tag}: precision@{K} {row['precision']:.4f}, p50 {row['p50_ms']:.3f} ms, "
        f"encode {row['encode_docs_per_s']:,.0f} docs/s")
    return row


def run_ray(args: argparse.Namespace, run: Path, corpus: Path, n: int, tag: str, stages: Stages) -> Dict[str, Any]:
    """``encode_to_shards`` of the whole corpus with ``--ray-workers`` encoder actors on a local Ray."""
    import ray

    from nash_index.distributed import encode_to_shards

    out = run / f"shards-{tag}"
    shutil.rmtree(out, ignore_errors=True)
    started = not ray.is_initialized()  # a cluster already joined (a test session's) is used as it is
    if started:
        # one logical CPU per encoder actor plus one for Ray Data's read tasks (with only the actors'
        # CPUs, the reads never get one and the job waits forever)
        ray.init(num_cpus=args.ray_workers + 1, include_dashboard=False, log_to_driver=False,
                 object_store_memory=1 << 31)  # bounded: Ray Data spills blocks of texts to disk beyond it
    try:
        memory = ProcessTreeMemory()
        with stages.run(f"encode {tag} (Ray, {args.ray_workers} encoder actors)", docs=n) as rec:
            encode_to_shards(run / f"pipe-{tag}", sorted(corpus.glob("part-*.jsonl")), out, num_shards=args.ray_workers, id_field="id",
                             batch_size=args.batch // 4, concurrency=args.ray_workers)
            rec.update(memory.stop())
    finally:
        if started:
            ray.shutdown()
    return {"tag": tag, "docs_per_s": rec["docs_per_s"], "seconds": rec["seconds"],
            "workers_peak_rss_sum_gib": rec["children_peak_rss_sum_gib"]}


def map_query_classes(queries: Dict[str, Any], labels_file: Path) -> None:
    """The queries' labels as the database's class ids (a label the corpus lacks: -1, never relevant)."""
    names = json.loads(Path(str(labels_file) + ".names.json").read_text())
    lookup = {name: i for i, name in enumerate(names)}
    queries["classes"] = [lookup.get(str(label), -1) for label in queries["labels"]]


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    n = int(args.docs)
    args.sample_n = min(int(args.sample), n)
    bits, hashers = parse_list(args.bits), [h.strip() for h in args.hashers.split(",")]
    ray_tags = [tag.strip() for tag in args.ray.split(",") if tag.strip()]
    unknown = [tag for tag in ray_tags if tag not in {f"{h}:{b}" for h in hashers for b in bits}]
    if unknown:
        raise SystemExit(f"--ray: {', '.join(unknown)} is not one of the fitted pipelines (hasher:bits of --hashers, --bits)")
    args.out.mkdir(parents=True, exist_ok=True)
    stages = Stages()
    t_start = time.perf_counter()
    log(f"at scale: {n:,} documents, sample {args.sample_n:,}, {args.queries} queries, bits {bits}, hashers {hashers}")
    corpus = corpus_dir(args, n, stages)
    run = args.out / f"run-{n}-seed{args.seed}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    queries = held_out_queries(n, args.queries, args.seed)
    with stages.run("read training sample", docs=args.sample_n):
        write_sample(corpus, args.sample_n, args.batch, run / "sample.json")
    report = {"docs": n, "sample": args.sample_n, "queries": args.queries, "k": K, "seed": args.seed,
              "threads": args.threads, "latency_queries": min(args.latency_queries, args.queries),
              "command": "bench/bench_at_scale.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "complete": False, "rows": [], "ray": [], "cosine": None, "stages": stages.records,
              "machine": machine_info()}
    for nbits in bits:  # each length's hashers side by side first: a stopped run still compares them
        for hasher in hashers:
            report["rows"].append(run_pipeline(args, run, corpus, n, hasher, nbits, queries, stages))
            _write(report, args, t_start)  # a partial report after each pipeline: a long run leaves figures
    for tag in ray_tags:
        report["ray"].append(run_ray(args, run, corpus, n, tag.replace(":", "-"), stages))
    if not args.no_cosine:
        first = report["rows"][0]
        with stages.run("exact cosine (streamed)", docs=n) as rec:
            rec.update(work.in_child(work.cosine_precision, str(run / f"pipe-{first['hasher']}-{first['nbits']}"),
                                     str(corpus), n, str(run / "labels.npy"), queries["texts"], queries["classes"], K,
                                     args.batch, threads=args.threads))
        report["cosine"] = {"precision": rec["precision"], "seconds": rec["seconds"], "peak_rss_gib": rec["peak_rss_gib"]}
    report["complete"] = True
    _write(report, args, t_start)
    if not args.keep:
        shutil.rmtree(run, ignore_errors=True)
    log(f"done in {report['total_seconds']:.0f} s: {args.results / args.name}.{{json,md,png}}")
    return 0


def _write(report: Dict[str, Any], args: argparse.Namespace, t_start: float) -> None:
    report["total_seconds"] = round(time.perf_counter() - t_start, 1)
    report["targets"] = targets(report)
    write_report(report, args.results, args.name, markdown(report))
    plot(report, args.results / f"{args.name}.png")


if __name__ == "__main__":
    sys.exit(main())
