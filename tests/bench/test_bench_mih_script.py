"""bench/bench_mih.py (the MIH benchmark script) and bench/mih_tools.py: tie-aware recall, loud
mismatches, and end-to-end smoke runs on a few thousand codes (synthetic and stand-in learned codes),
writing into a temporary directory; every JSON is parsed strictly."""
from __future__ import annotations

import numpy as np
import pytest
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)


@pytest.fixture
def mih_tools(bench_module):
    return bench_module("mih_tools")


def test_recall_is_tie_aware(mih_tools):
    exact = np.array([[1, 2, 2]])
    assert mih_tools.recall_at_k(np.array([[1, 2, 2]]), np.array([[5, 7, 9]]), exact, 64) == 1.0
    assert mih_tools.recall_at_k(np.array([[2, 2, 2]]), np.array([[5, 7, 9]]), exact, 64) == pytest.approx(2 / 3)
    assert mih_tools.recall_at_k(np.array([[1, 2, 0]]), np.array([[5, 7, -1]]), exact, 64) == pytest.approx(2 / 3)


def test_mismatch_fails_loudly(mih_tools):
    d, i = np.zeros((2, 3), np.int32), np.arange(6).reshape(2, 3)
    mih_tools.check_equal("same", (d, i), d.copy(), i.copy())
    with pytest.raises(SystemExit, match="MISMATCH"):
        mih_tools.check_equal("swapped", (d, i), d, i[:, ::-1])


def test_bench_mih_quick_smoke(bench_module, tmp_path, capsys):
    bench_mih = bench_module("bench_mih")
    bench_mih.main(["--quick", "--n", "3000", "--single-queries", "25", "--batch", "40", "--repeats", "1",
                    "--max-nflip", "2", "--name", "smoke", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "MIH speed-up" in out and "auto choice auto (" in out and "p50/q" in out
    payload = strict_json(tmp_path / "smoke.json")
    records = payload["records"]
    assert len(records) == 8  # 4 target code sets x (single, batch) at k = 10
    assert all(r["checked_equal"] and r["k"] == 10 for r in records)
    assert {r["nbits"] for r in records} == {64, 128}
    assert all(r["auto"] in ("auto (mih)", "auto (flat)") for r in records)
    for r in records:
        assert r["mih_qps"] > 0 and r["mih_p50_us"] > 0
        # p99 needs >= 20 timed calls: 25 single queries have one, 1 batch call has none (null)
        assert (r["mih_p99_us"] is None) == (r["mode"] == "batch")
    assert all(b["table_bytes"] > 0 and b["m"] >= 2 for b in payload["builds"])
    assert (tmp_path / "smoke.png").stat().st_size > 1000


def test_bench_mih_learned_codes(bench_module, tmp_path, monkeypatch, capsys):
    """--codes learned on stand-in codes (training NASH is the slow part, not what is tested here):
    the train split replicated with bit flips to N, test documents as queries."""
    bench_module("mih_tools")
    bench_mih = bench_module("bench_mih")
    rng = np.random.default_rng(0)
    fake = lambda nbits, epochs, data_dir, cache_dir: (rng.integers(0, 256, (300, nbits // 8), dtype=np.uint8),  # noqa: E731
                                                       rng.integers(0, 256, (30, nbits // 8), dtype=np.uint8))
    monkeypatch.setattr(bench_mih.mih_tools, "learned_codes", fake)
    bench_mih.main(["--codes", "learned", "--n", "2000", "--nbits", "32", "--k", "5", "--single-queries", "20",
                    "--batch", "50", "--repeats", "1", "--max-nflip", "1", "--no-plot", "--out", str(tmp_path)])
    payload = strict_json(tmp_path / "mih.json")
    assert {r["dist"] for r in payload["records"]} == {"NASH Reuters"}
    assert [b["n"] for b in payload["builds"]] == [2000]
    assert "NASH Reuters" in capsys.readouterr().out


def test_replicate_keeps_the_codes_then_adds_noisy_copies(mih_tools):
    codes = np.random.default_rng(1).integers(0, 256, (100, 8), dtype=np.uint8)
    out = mih_tools.replicate(codes, 1000, 64, seed=0)
    assert out.shape == (1000, 8) and np.array_equal(out[:100], codes)
    flipped = np.unpackbits(out[100:] ^ codes[:1], axis=1).mean()  # far from one code on average...
    assert 0.3 < flipped < 0.7
    nearest = min(np.unpackbits(out[100:101] ^ c).sum() for c in codes)  # ...but near one of them
    assert nearest < 64 * 0.1
