"""bench/bench_mih.py (the MIH benchmark script) and bench/mih_tools.py: tie-aware recall, loud
mismatches, and an end-to-end smoke run on a few thousand codes, writing into a temporary directory."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench_mih(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import harness

    monkeypatch.setattr(harness, "RESULTS_DIR", tmp_path)
    sys.modules.pop("bench_mih", None)
    import bench_mih

    yield bench_mih
    sys.modules.pop("bench_mih", None)


@pytest.fixture
def mih_tools(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import mih_tools

    return mih_tools


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


def test_bench_mih_quick_smoke(bench_mih, tmp_path, capsys):
    bench_mih.main(["--quick", "--n", "3000", "--single-queries", "10", "--batch", "40", "--repeats", "1",
                    "--max-nflip", "2", "--no-plot", "--name", "smoke"])
    out = capsys.readouterr().out
    assert "MIH speed-up" in out and "auto choice" in out
    payload = json.loads((tmp_path / "smoke.json").read_text())
    records = payload["records"]
    assert len(records) == 8  # 4 target code sets x (single, batch) at k = 10
    assert all(r["checked_equal"] and r["k"] == 10 for r in records)
    assert {r["nbits"] for r in records} == {64, 128}
    assert all(b["table_bytes"] > 0 and b["m"] >= 2 for b in payload["builds"])
