"""bench/bench_at_scale.py: a smoke run on 2,000 generated documents walks every stage (generate, fit,
encode in one process and on Ray, build, serve, precision, streamed cosine) and writes strict JSON,
Markdown and a PNG; the streamed exact cosine equals numpy brute force."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)

pytest.importorskip("torch")


def _brute_force_top_k(db: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Each query's rows by descending cosine, ties by ascending row: dense numpy, no index (cosines
    rounded to 1e-12, so that equal ones compare equal whatever the order of the arithmetic)."""
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)  # noqa: E731
    scores = np.round(unit(q) @ unit(db).T, 12)
    return np.lexsort((np.broadcast_to(np.arange(db.shape[0]), scores.shape), -scores), axis=1)[:, :k]


def test_streamed_cosine_equals_brute_force_with_ties(bench_module):
    cosine = bench_module("at_scale_cosine")
    rng = np.random.default_rng(3)
    distinct = rng.random((40, 12)) * (rng.random((40, 12)) < 0.5)  # sparse-ish rows
    db = distinct[rng.integers(0, 40, 700)]  # every row has copies: ties, across blocks too
    db[::50] = 0.0  # empty rows: cosine 0 with every query
    q = rng.random((9, 12)) * (rng.random((9, 12)) < 0.3)
    for k in (40, 100):  # the k-th place inside a tie; more than a block's rows
        top = cosine.StreamedCosineTopK(sp.csr_matrix(q), k)
        for start in range(0, 700, 64):  # blocks that do not divide the database
            top.add(sp.csr_matrix(db[start:start + 64]))
        assert np.array_equal(top.ids, _brute_force_top_k(db, q, k))
    labels = rng.integers(0, 4, 700)
    q_labels = np.array([0, 1, 2, 3, -1, 0, 1, 2, 3])
    expected = np.mean([(labels[row] == c).sum() if c >= 0 else 0 for row, c in zip(top.ids, q_labels)]) / 100
    assert cosine.label_precision(top.ids, labels, q_labels, 100) == pytest.approx(expected)


def test_bench_at_scale_smoke(bench_module, tmp_path, ray_local):
    bench = bench_module("bench_at_scale")
    out, results = tmp_path / "data", tmp_path / "results"
    status = bench.main(["--docs", "2000", "--sample", "1000", "--queries", "60", "--latency-queries", "20",
                         "--bits", "32", "--epochs", "1", "--batch", "500", "--jobs", "2", "--ray", "nash:32",
                         "--ray-workers", "1", "--out", str(out),
                         "--results", str(results), "--name", "smoke", "--keep"])
    assert status == 0
    report = strict_json(results / "smoke.json")
    assert {(r["hasher"], r["nbits"]) for r in report["rows"]} == {("nash", 32), ("itq", 32)}
    for row in report["rows"]:
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["precision_expected"] <= 1.0
        assert row["encode_torch_free"] and row["serve_torch_free"] and row["single_equals_batch"]
        assert row["encode_docs_per_s"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
    names = [s["stage"] for s in report["stages"]]
    for stage in ("generate corpus", "fit nash-32", "encode nash-32 (2 processes)", "build MIH itq-32",
                  "serve itq-32", "encode nash-32 (Ray, 1 encoder actors)", "exact cosine (streamed)"):
        assert stage in names
    assert all(s["seconds"] > 0 and s["peak_rss_gib"] > 0 for s in report["stages"])
    assert report["ray"][0]["docs_per_s"] > 0
    assert {t["target"].split(" (")[0] for t in report["targets"]} >= {"vectorize + encode >= 20,000 docs/s"}
    assert (results / "smoke.md").read_text().startswith("# The whole path at scale")
    assert (results / "smoke.png").stat().st_size > 10_000

    # The report's cosine precision is exact: the library's whole-matrix cosine precision on the same rows.
    from nash_index import HashingPipeline
    from nash_index.evaluation import cosine_precision_at_k

    run = out / "run-2000-seed0"
    pipe = HashingPipeline.load(run / "pipe-nash-32")
    docs = [json.loads(line) for f in sorted((out / "corpus-2000-seed0").glob("part-*.jsonl")) for line in open(f)]
    queries = bench.held_out_queries(2000, 60, 0)
    db_classes = np.load(run / "labels.npy")
    bench.map_query_classes(queries, run / "labels.npy")
    expected = cosine_precision_at_k(pipe.transform([d["text"] for d in docs]), db_classes,
                                     pipe.transform(queries["texts"]), np.asarray(queries["classes"]), 100)
    assert report["cosine"]["precision"] == pytest.approx(expected, abs=1e-4)
    # the codes on disk are the pipeline's: precision is what nash_index.evaluation finds from scratch
    codes = np.load(run / "codes-nash-32.npy")
    assert np.array_equal(codes[:50], pipe.encode([d["text"] for d in docs[:50]]))


def test_bench_training_scale_smoke(bench_module, tmp_path):
    bench = bench_module("bench_training_scale")
    results = tmp_path / "results"
    args = ["--docs", "1200", "--sizes", "400,1200", "--bits", "32", "--queries", "40", "--epochs", "1",
            "--batch", "400", "--out", str(tmp_path / "data"), "--results", str(results), "--name", "smoke"]
    assert bench.main(args) == 0
    report = strict_json(results / "smoke.json")
    points = {(p["hasher"], p["sample"]): p for p in report["points"]}
    assert set(points) == {(h, s) for h in ("nash", "itq") for s in (400, 1200)}
    assert all(0.0 <= p["precision"] <= 1.0 and p["fit_seconds"] > 0 for p in points.values())
    nash = points[("nash", 1200)]["training"]
    assert nash["epochs_run"] == 1 and nash["best_epoch"] == 1 and len(nash["history"]) == 1
    assert points[("itq", 1200)]["training"] is None
    assert "precision@100 against training sample size" in (results / "smoke.md").read_text()
    assert (results / "smoke.png").stat().st_size > 10_000
    # --resume keeps the points already measured and measures nothing again
    assert bench.main(args + ["--resume"]) == 0
    assert strict_json(results / "smoke.json")["points"] == report["points"]
