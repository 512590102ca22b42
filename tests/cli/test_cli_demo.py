"""``nash-index demo``'s parts, in process and on hand-made data: the exact-cosine ceiling against
an independent brute force, the headline sentence (strongest baseline, whether NASH wins or
loses), the table and the plot. The end-to-end run is in test_cli.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

from nash_index.cli import app  # noqa: E402
from nash_index.cli.demo_report import headline, main_bits, plot_demo, print_summary  # noqa: E402
from nash_index.evaluation.cosine import cosine_precision_at_k, cosine_top_k  # noqa: E402


# ---- exact cosine -----------------------------------------------------------------------------
def _reference_top_k(db: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Pair by pair in float64, sorted by (-cosine, index); a zero vector has cosine 0."""
    out = []
    for row in q:
        cos = []
        for j, doc in enumerate(db):
            den = np.linalg.norm(row) * np.linalg.norm(doc)
            cos.append(round(float(row @ doc) / den, 9) if den > 0 else 0.0)
        out.append(sorted(range(len(db)), key=lambda j: (-cos[j], j))[:k])
    return np.array(out)


def _reference_precision(db, db_sets, q, q_sets, k) -> float:
    top = _reference_top_k(db, q, k)
    return float(np.mean([sum(bool(db_sets[j] & q_sets[i]) for j in ids) / k for i, ids in enumerate(top)]))


# Documents x terms (counts): doc 3 is doc 0 scaled (same cosine, later index), doc 5 is empty,
# doc 6 shares nothing with query 0; query 2 knows no term (all cosines 0: ties by index).
DB = np.array([[2, 1, 0, 0, 0], [0, 3, 1, 0, 0], [1, 0, 0, 4, 0], [4, 2, 0, 0, 0],
               [0, 0, 2, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 5], [1, 1, 1, 1, 0]], dtype=float)
Q = np.array([[3, 1, 0, 0, 0], [0, 1, 2, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 2]], dtype=float)
DB_SETS = [{0}, {1}, {2}, {1}, {1, 2}, {0}, {2}, {0, 2}]
Q_SETS = [{0}, {1, 2}, {2}, set()]


def _indicator(sets, width=3):
    out = np.zeros((len(sets), width), dtype=bool)
    for i, labels in enumerate(sets):
        out[i, sorted(labels)] = True
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("sparse", [True, False])
def test_cosine_top_k_matches_brute_force(k, sparse):
    db, q = (sp.csr_matrix(DB), sp.csr_matrix(Q)) if sparse else (DB, Q)
    got = cosine_top_k(db, q, k, block=3)  # blocks that do not divide the queries
    np.testing.assert_array_equal(got, _reference_top_k(DB, Q, k))
    assert list(got[0][:2]) == [0, 3][:k]  # the scaled copy ties with the original, lower index first
    assert list(got[2]) == list(range(k))  # no known term: all ties, by index


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_cosine_precision_matches_brute_force(k):
    expected = _reference_precision(DB, DB_SETS, Q, Q_SETS, k)
    got = cosine_precision_at_k(sp.csr_matrix(DB), _indicator(DB_SETS), sp.csr_matrix(Q), _indicator(Q_SETS), k)
    assert got == pytest.approx(expected, abs=1e-12)
    dense = cosine_precision_at_k(DB, sp.csr_matrix(_indicator(DB_SETS)), Q, _indicator(Q_SETS), k)
    assert dense == pytest.approx(expected, abs=1e-12)


def test_cosine_precision_by_hand():
    # k=1: q0 -> doc 0 {0} hit; q1 -> doc 4 {1,2} hit; q2 -> doc 0 {0} vs {2} miss; q3 -> doc 6 but no labels
    assert cosine_precision_at_k(DB, _indicator(DB_SETS), Q, _indicator(Q_SETS), 1) == pytest.approx(2 / 4)


def test_cosine_precision_on_random_sparse_data_and_class_ids():
    rng = np.random.default_rng(3)
    db = sp.random(60, 40, density=0.2, random_state=4, format="csr") * 10
    q = sp.random(15, 40, density=0.2, random_state=5, format="csr") * 10
    y_db, y_q = rng.integers(0, 4, 60), rng.integers(0, 4, 15)
    expected = _reference_precision(db.toarray(), [{c} for c in y_db], q.toarray(), [{c} for c in y_q], 10)
    assert cosine_precision_at_k(db, y_db, q, y_q, 10, block=4) == pytest.approx(expected, abs=1e-12)


def test_cosine_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="columns"):
        cosine_top_k(DB, Q[:, :3], 2)


# ---- the headline -------------------------------------------------------------------------------
def _row(method, bits, p):
    return {"method": method, "bits": bits, "index_order": p, "expected": p, "train_s": 1.0}


def test_main_bits():
    assert main_bits([16, 32, 64, 128]) == 64
    assert main_bits([32, 16]) == 32


def test_headline_nash_ahead_of_the_strongest_baseline():
    rows = [_row("nash", 64, 0.205), _row("itq", 64, 0.197), _row("lsh", 64, 0.075),
            _row("nash", 32, 0.10), _row("itq", 32, 0.30)]  # other lengths do not count
    text = headline(rows, 64, 100, {"precision": 0.25}, "TF-IDF")
    assert text.startswith("NASH 64 bits: precision@100 0.205, ahead of PCA-ITQ")
    assert "(0.197), by 0.008" in text and "LSH" not in text
    assert text.endswith("exact TF-IDF cosine (float, no hashing) 0.250")


def test_headline_nash_behind_the_strongest_baseline():
    rows = [_row("nash", 64, 0.180), _row("lsh", 64, 0.066), _row("itq", 64, 0.197), _row("sth", 64, 0.179)]
    text = headline(rows, 64, 100, {"precision": 0.25}, "minilm")
    assert "behind PCA-ITQ, the strongest baseline (0.197), by 0.017" in text
    assert "ahead" not in text and "exact minilm cosine" in text


def test_headline_level_and_without_baselines():
    assert "level with LSH" in headline([_row("nash", 16, 0.1201), _row("lsh", 16, 0.1199)], 16, 10)
    # the sentence is about the printed (3-decimal) numbers: 0.197 vs 0.197 is level, not "ahead by 0.001"
    assert "level with PCA-ITQ, the strongest baseline (0.197)" in headline(
        [_row("nash", 64, 0.1974), _row("itq", 64, 0.1966)], 64, 100)
    assert "0.198, ahead of PCA-ITQ, the strongest baseline (0.197), by 0.001" in headline(
        [_row("nash", 64, 0.1976), _row("itq", 64, 0.1966)], 64, 100)
    assert headline([_row("nash", 16, 0.12)], 16, 10) == "NASH 16 bits: precision@10 0.120 (no baseline run)"
    with pytest.raises(ValueError):
        headline([_row("itq", 16, 0.12)], 16, 10)


# ---- table, JSON, plot ----------------------------------------------------------------------------
def _report():
    rows = [_row(m, b, p) for m, ps in (("nash", (0.12, 0.16, 0.18, 0.19)), ("itq", (0.11, 0.15, 0.197, 0.2)),
                                        ("lsh", (0.03, 0.05, 0.07, 0.09))) for b, p in zip((16, 32, 64, 128), ps)]
    cosine = {"precision": 0.25, "seconds": 0.5}
    return {"k": 100, "n_queries": 50, "n_db": 400, "labels": 5, "features": "TF-IDF", "results": rows,
            "cosine": cosine, "headline": headline(rows, 64, 100, cosine),
            "latency": {"bits": 64, "queries": 10, "p50_ms": 0.2, "p99_ms": 0.5, "vectorize_ms": 0.1,
                        "encode_ms": 0.05, "search_ms": 0.02, "batch_queries": 50, "batch_qps": 5000.0},
            "index": "FlatIndex"}


def test_print_summary_table(capsys):
    print_summary(_report())
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if "16 bits" in line)
    assert header.split()[:9] == ["method", "16", "bits", "32", "bits", "64", "bits", "128", "bits"]
    assert any(line.split()[:5] == ["PCA-ITQ", "0.110", "0.150", "0.197", "0.200"] for line in lines)
    assert any(line.split()[:5] == ["NASH", "0.120", "0.160", "0.180", "0.190"] for line in lines)
    assert "exact TF-IDF cosine (float vectors, no hashing): 0.250" in out
    assert "NASH 64 bits: precision@100 0.180, behind PCA-ITQ, the strongest baseline (0.197), by 0.017" in out


def test_plot_demo_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    assert plot_demo(_report(), tmp_path / "demo.png")
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_is_strict_json():
    def reject(name):
        raise ValueError(f"not JSON: {name}")

    text = json.dumps(_report(), allow_nan=False)
    assert json.loads(text, parse_constant=reject)["cosine"]["precision"] == 0.25
    with pytest.raises(ValueError):
        json.dumps({"x": math.nan}, allow_nan=False)


def test_demo_defaults():
    args = app.build_parser().parse_args(["demo"])
    assert args.bits is None and not args.full and args.jobs is None  # lengths: demo_bits (test_cli_demo_parallel.py)
    assert args.baselines == "itq,lsh" and args.epochs >= 200 and args.patience >= 10


def test_baselines_run_at_the_given_lengths_and_skip_what_the_data_cannot_support():
    from types import SimpleNamespace

    from nash_index.cli.demo import _baseline_rows

    rng = np.random.default_rng(0)
    X_db, X_q = rng.random((60, 20)), rng.random((10, 20))
    raw = SimpleNamespace(train_labels=rng.integers(0, 3, 60))
    skipped = []
    rows = _baseline_rows(["itq", "lsh"], [16, 32], X_db, X_q, raw, rng.integers(0, 3, 10), 5, 0, skipped)
    assert [(r["method"], r["bits"]) for r in rows] == [("itq", 16), ("lsh", 16), ("lsh", 32)]
    assert len(skipped) == 1 and skipped[0].startswith("PCA-ITQ 32 bits: ")
