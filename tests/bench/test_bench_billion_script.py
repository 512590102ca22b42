"""bench/bench_billion.py and bench/codes_on_disk.py: the word-mask generator flips bits at the
rate it states, files are prefixes of each other, and an end-to-end smoke run on a few thousand
codes (built from disk in a child process, exactness checked against the flat scan) writes strict
JSON, Markdown and a PNG."""
from __future__ import annotations

import json

import numpy as np
import pytest
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)


@pytest.fixture
def cod(bench_module):
    return bench_module("codes_on_disk")


@pytest.mark.parametrize("p", [0.02, 0.1, 0.125, 0.15, 0.5])
def test_flip_masks_flip_at_the_stated_rate(cod, p):
    masks = cod.flip_masks(np.random.default_rng(0), 20000, 8, p)
    rate = np.unpackbits(masks).mean()
    assert cod.effective_flip(p) == round(p * 256) / 256
    assert abs(rate - cod.effective_flip(p)) < 0.004  # 1.28M bits: ~10 standard deviations


def test_files_are_prefixes_and_queries_are_fresh(cod, tmp_path, monkeypatch):
    monkeypatch.setattr(cod, "CHUNK", 1000)
    small = np.load(cod.write_codes(tmp_path / "a.npy", 2500, 64, "c20-p0.1", workers=2))
    large = np.load(cod.write_codes(tmp_path / "b.npy", 5000, 64, "c20-p0.1", workers=2))
    np.testing.assert_array_equal(small, large[:2500])
    assert len(np.unique(large, axis=0)) > 4000  # not 20 copies of the centres
    queries = cod.queries_of("c20-p0.1", 10, 64, 0)
    assert queries.shape == (10, 8) and not (queries[:, None] == large[None]).all(axis=2).any()
    with pytest.raises(ValueError, match="unknown distribution"):
        cod.parse_dist("clustered")


def test_bench_billion_smoke(bench_module, tmp_path, capsys):
    bench = bench_module("bench_billion")
    bench.main(["--n", "3000,6000", "--dists", "c20-p0.1,uniform", "--quick", "--data", str(tmp_path / "data"),
                "--out", str(tmp_path), "--name", "smoke"])
    payload = strict_json(tmp_path / "smoke.json")
    records = payload["records"]
    assert [(r["dist"], r["n"]) for r in records] == [("c20-p0.1", 3000), ("c20-p0.1", 6000),
                                                      ("uniform", 3000), ("uniform", 6000)]
    for r in records:
        assert r["k10"]["checked_queries"] == 4 and r["k10"]["mih_p50_ms"] > 0
        assert r["file_bytes"] > r["n"] * 8 and 1.0 < r["memory_ratio"] < 4.0
        assert r["build_peak_rss"] > 0 and r["batch"]["size"] == 30
        tail = r["tail"]  # fresh queries: the p99 from 2,000 of them in quick mode
        assert tail["queries"] == 2000 and abs(sum(tail["kth_share"].values()) - 1) < 1e-9
        assert len(tail["p99_per_1000_ms"]) == 2 and tail["load"] == "mmap"
        assert 0 < tail["p50_ms"] <= tail["p99_ms"] <= tail["p999_ms"]
        assert tail["huge_page_share"] is None or 0 <= tail["huge_page_share"] <= 1
    md = (tmp_path / "smoke.md").read_text()
    assert "| c20-p0.1, 64-bit | 3e+03 |" in md and "## The 10-NN tail" in md
    assert (tmp_path / "smoke.png").stat().st_size > 1000
    assert list((tmp_path / "data").glob("*.nidx")) == []  # index files are removed after use


def test_limits_scale_turns_results_into_limits_rows(bench_module, tmp_path):
    """A smoke run of bench_billion and a bench_exact_vs_approx payload become bench_limits rows
    (groups "10^9" and "exact 10^7") whose goals are judged from the figures."""
    bench_module("bench_billion").main(["--n", "3000", "--dists", "c20-p0.1", "--quick", "--data",
                                        str(tmp_path / "data"), "--out", str(tmp_path), "--name", "b"])
    exact = {"args": {}, "records": [], "rows": [
        dict(shape="exact 10-NN (single, mih), shape A", ours=2.0, reference=1.0, bound=None, ratio=2.0,
             unit="q/s", target=">= 1x the reference", met=True),
        dict(shape="exact 10-NN (batch, mih), shape A", ours=1.0, reference=4.0, bound=None, ratio=0.25,
             unit="q/s", target=">= 1x the reference", met=False)]}
    (tmp_path / "e.json").write_text(json.dumps(exact))
    scale = bench_module("limits_scale")
    scale.main([str(tmp_path / "b.json"), str(tmp_path / "e.json"), "--out", str(tmp_path / "rows.json")])
    payload = strict_json(tmp_path / "rows.json")
    (rec,) = strict_json(tmp_path / "b.json")["records"]
    rows = {(r["group"], r["shape"].split(",")[0]): r for r in payload["rows"]}
    p99 = rows[("10^9", "MIH 10-NN p99")]
    assert p99["ours"] == rec["tail"]["p99_ms"] and p99["met"] == (rec["tail"]["p99_ms"] <= 3.0)
    assert rows[("10^9", "MIH build from disk")]["ours"] == rec["build_s"]
    assert abs(rows[("10^9", "MIH tables / code bytes")]["ours"] - (rec["memory_ratio"] - 1)) < 1e-12
    speedup = rows[("10^9", "MIH 10-NN p50 speed-up over the flat scan")]
    assert speedup["ours"] == rec["k10"]["speedup_p50"] and not speedup["met"]  # no earlier figure for c20
    exact_rows = [r for r in payload["rows"] if r["group"] == "exact 10^7"]
    assert [(r["x_faiss"], r["met"]) for r in exact_rows] == [(2.0, True), (0.25, False)]
    assert payload["meta"]["argv"] == [str(tmp_path / "b.json"), str(tmp_path / "e.json")]
    with pytest.raises(SystemExit, match="neither"):
        scale.main([str(tmp_path / "rows.json"), "--out", str(tmp_path / "x.json")])


def test_bench_billion_dedup_smoke(bench_module, tmp_path):
    bench = bench_module("bench_billion")
    bench.main(["--n", "4000", "--dists", "c20-p0.02", "--dedup", "--quick", "--data", str(tmp_path / "data"),
                "--out", str(tmp_path), "--name", "smoke"])
    (r,) = strict_json(tmp_path / "smoke.json")["records"]
    d = r["dedup"]
    assert d["distinct"] < 4000 and 0 < d["duplicate_share"] < 1 and d["k10"]["checked_queries"] == 30
    assert d["k10"]["p50_ms"] > 0 and d["file_bytes"] > 0 and r["dedup_build"]["build_peak_rss"] > 0
    assert "| c20-p0.02, 64-bit | 4e+03 |" in (tmp_path / "smoke.md").read_text()
    assert list((tmp_path / "data").glob("*.nidx")) == []


def test_bench_dedup_smoke(bench_module, tmp_path):
    bench = bench_module("bench_dedup")
    bench.main(["--n", "3000", "--shares", "0,0.9", "--quick", "--out", str(tmp_path), "--name", "ov"])
    records = strict_json(tmp_path / "ov.json")["records"]
    assert [round(r["duplicate_share"], 1) for r in records] == [0.0, 0.9]
    for r in records:
        for pair in ("flat_dedup_over_flat", "mih_dedup_over_mih"):
            assert r[pair]["p50"] > 0 and r[pair]["bytes"] > 0
    assert "| 3e+03 | 0.000 |" in (tmp_path / "ov.md").read_text()
