"""``nash-index build --faiss FILE``: a file written by ``faiss.write_index_binary`` becomes an index
directory whose keys are the faiss ids; searches are checked against a numpy brute force."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import hamming, scrambled_ids, uniform_codes
from nash_index.cli import app
from nash_index.pipeline import CodesIndex


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)


@pytest.fixture
def faiss():
    return pytest.importorskip("faiss", reason="faiss is not installed (pip install 'nash_index[faiss]')")


def cli(capsys, *args) -> str:
    status = app.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def cli_error(capsys, *args) -> str:
    assert app.main([str(a) for a in args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]
    return err[0]


@pytest.mark.parametrize("with_ids", [False, True])
def test_build_from_faiss_file_searches_exactly(faiss, flat_rng, tmp_path, capsys, with_ids):
    db = uniform_codes(flat_rng, 600, 64)
    ids = scrambled_ids(flat_rng, 600) if with_ids else np.arange(600)
    flat = faiss.IndexBinaryFlat(64)
    index = faiss.IndexBinaryIDMap(flat) if with_ids else flat
    if with_ids:
        index.add_with_ids(db, ids)
    else:
        index.add(db)
    faiss.write_index_binary(index, str(tmp_path / "codes.faiss"))
    out = cli(capsys, "build", "--faiss", tmp_path / "codes.faiss", "--out", tmp_path / "idx")
    assert "indexed 600 codes (64 bits" in out
    assert CodesIndex.load(tmp_path / "idx").ntotal == 600
    queries = db[[5, 99]].copy()
    queries[:, 0] ^= 3  # two bits away from indexed codes 5 and 99
    np.save(tmp_path / "q.npy", queries)
    out = cli(capsys, "search", "--index", tmp_path / "idx", "--codes", tmp_path / "q.npy", "--json", "-k", "5")
    for line, q in zip(out.splitlines(), queries):
        hits = json.loads(line)["results"]
        d = hamming(db, q[None, :])
        order = np.lexsort((np.arange(600), d))[:5]  # rows in faiss's order; ties by row
        assert [h["key"] for h in hits] == [str(i) for i in ids[order]]
        assert [h["distance"] for h in hits] == d[order].tolist()
    assert json.loads(out.splitlines()[0])["results"][0]["key"] == str(ids[5])


def test_keys_file_overrides_faiss_ids(faiss, flat_rng, tmp_path, capsys):
    db = uniform_codes(flat_rng, 3, 16)
    index = faiss.IndexBinaryFlat(16)
    index.add(db)
    faiss.write_index_binary(index, str(tmp_path / "codes.faiss"))
    (tmp_path / "keys.txt").write_text("a\nb\nc\n", encoding="utf-8")
    cli(capsys, "build", "--faiss", tmp_path / "codes.faiss", "--keys", tmp_path / "keys.txt", "--out", tmp_path / "idx")
    loaded = CodesIndex.load(tmp_path / "idx")
    assert [loaded.key_of(i) for i in range(3)] == ["a", "b", "c"]


def test_faiss_errors_are_one_line(faiss, tmp_path, capsys):
    assert "no faiss index file" in cli_error(capsys, "build", "--faiss", tmp_path / "absent.faiss", "--out", tmp_path / "x")
    (tmp_path / "junk.faiss").write_bytes(b"junk")
    assert "is not a faiss binary index file" in cli_error(capsys, "build", "--faiss", tmp_path / "junk.faiss",
                                                           "--out", tmp_path / "x")
    faiss.write_index_binary(faiss.IndexBinaryHNSW(64), str(tmp_path / "hnsw.faiss"))
    err = cli_error(capsys, "build", "--faiss", tmp_path / "hnsw.faiss", "--out", tmp_path / "x")
    assert "IndexBinaryHNSW is not supported" in err and "IndexBinaryFlat" in err
    err = cli_error(capsys, "build", "--faiss", tmp_path / "hnsw.faiss", "--corpus", "reuters", "--out", tmp_path / "x")
    assert "--faiss indexes the codes as they are: --corpus do not apply" in err


def test_faiss_and_codes_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        app.main(["build", "--faiss", "a.faiss", "--codes", "b.npy", "--out", str(tmp_path / "x")])
    assert "not allowed with argument" in capsys.readouterr().err


def test_without_faiss_the_error_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "faiss", None)
    (tmp_path / "codes.faiss").write_bytes(b"x")
    err = cli_error(capsys, "build", "--faiss", tmp_path / "codes.faiss", "--out", tmp_path / "x")
    assert "pip install 'nash_index[faiss]'" in err
