"""Artefacts compose (#15 item 4): a model saved by ``NASH.save`` builds an index with the CLI,
your own codes build one, keys come from a column, and search shows the neighbours' texts.

Every search is checked against an independent numpy brute force over codes computed outside
the CLI (the torch model's own ``encode``, or the user's bits), by key."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from conftest import hamming  # noqa: E402
from nash_index.cli import app  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402
from nash_index.text import TextVectorizer  # noqa: E402

TOPICS = {"dates": "parse date string datetime calendar month year format weekday timezone",
          "csv": "read write rows csv file column delimiter header quote dialect",
          "zip": "compress gzip archive bytes deflate zlib stream level member",
          "regex": "match regular expression pattern text group search replace flags"}
QUERIES = ["gzip compress bytes", "csv rows header", "parse a date"]


@pytest.fixture(autouse=True)
def no_debug(monkeypatch, tmp_path):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)
    monkeypatch.setenv("NASH_INDEX_CACHE", str(tmp_path / "cache"))


def records(n: int = 240, seed: int = 0) -> List[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(sorted(TOPICS))
        out.append({"id": f"doc-{i}", "name": f"n{i:03d}", "label": topic,
                    "text": " ".join(rng.choices(TOPICS[topic].split(), k=14))})
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("art") / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records()), encoding="utf-8")
    return path


def cli(capsys, *args: str) -> str:
    status = app.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def cli_error(capsys, *args: str) -> str:
    assert app.main([str(a) for a in args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]
    return err[0]


def json_hits(out: str) -> List[List[dict]]:
    return [json.loads(line)["results"] for line in out.splitlines()]


def assert_exact_knn(hits: List[dict], query_code: np.ndarray, codes_by_key: Dict[str, np.ndarray], k: int) -> None:
    """Each hit's distance is its key's true Hamming distance, and the distances are the k smallest."""
    keys = list(codes_by_key)
    truth = hamming(np.stack([codes_by_key[key] for key in keys]), query_code[None, :])
    assert len(hits) == k
    assert [h["distance"] for h in hits] == sorted(truth.tolist())[:k]
    for h in hits:
        assert h["distance"] == int(hamming(codes_by_key[h["key"]], query_code))


# ---- a model saved from Python ------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    pytest.importorskip("torch")
    from nash_index import NASH

    docs = records()
    texts = [r["text"] for r in docs]
    vec = TextVectorizer().fit(texts[:200])
    model = NASH(nbits=16, epochs=2, verbose=False, seed=0).fit(vec.transform(texts[:200]))
    out = tmp_path_factory.mktemp("model") / "nash_model"
    model.save(out)
    vec.save(out / "vectorizer.npz")
    return out, model, vec


def test_nash_save_model_builds_an_index_that_searches_like_python(saved_model, corpus, tmp_path, capsys):
    model_dir, model, vec = saved_model
    cli(capsys, "build", "--model", model_dir, "--corpus", corpus, "--out", tmp_path / "idx", "--quiet")
    out = cli(capsys, "search", "--index", tmp_path / "idx", "--json", "-k", "8", *QUERIES)
    docs = {r["id"]: r["text"] for r in records()}  # keys: the JSONL ids (the default key column)
    codes = dict(zip(docs, model.encode(vec.transform(list(docs.values())))))  # the torch model itself
    for hits, q in zip(json_hits(out), model.encode(vec.transform(QUERIES))):
        assert_exact_knn(hits, q, codes, 8)
    # the same neighbours, in the same order, as a pipeline composed in Python
    pipe = HashingPipeline.from_model(model_dir)
    built = HashingPipeline.load(tmp_path / "idx")
    pipe.add([docs[built.key_of(i)] for i in range(built.ntotal)], keys=[built.key_of(i) for i in range(built.ntotal)])
    expected = pipe.search(QUERIES, k=8)
    assert [[h["key"] for h in hits] for hits in json_hits(out)] == expected.keys


def test_vectorizer_can_be_passed_and_must_match(saved_model, corpus, tmp_path, capsys):
    model_dir, _, vec = saved_model
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "weights.pt"):
        (bare / name).write_bytes((model_dir / name).read_bytes())
    err = cli_error(capsys, "build", "--model", bare, "--corpus", corpus, "--out", tmp_path / "x")
    assert "no TF-IDF vocabulary" in err and "vectorizer.npz" in err and "--vectorizer" in err
    cli(capsys, "build", "--model", bare, "--vectorizer", model_dir / "vectorizer.npz", "--corpus", corpus,
        "--out", tmp_path / "ok", "--quiet")
    assert HashingPipeline.load(tmp_path / "ok").ntotal == len(records())
    other = TextVectorizer().fit(["alpha beta gamma", "beta gamma delta", "gamma delta epsilon"])
    other.save(tmp_path / "other.npz")
    err = cli_error(capsys, "build", "--model", bare, "--vectorizer", tmp_path / "other.npz", "--corpus", corpus,
                    "--out", tmp_path / "y")
    assert f"reads {vec.n_features} TF-IDF columns" in err and "not the vectorizer" in err
    err = cli_error(capsys, "build", "--model", bare, "--vectorizer", "corpus", "--corpus", corpus, "--out", tmp_path / "z")
    assert "load_corpus vocabulary of a benchmark corpus" in err


# ---- your own codes -----------------------------------------------------------------------
@pytest.mark.parametrize("as_bits", [True, False])
def test_own_codes_with_keys_search_exactly(tmp_path, capsys, as_bits):
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, size=(500, 64))
    packed = np.packbits(bits.astype(np.uint8), axis=1)  # the oracle's own packing
    np.save(tmp_path / "codes.npy", bits if as_bits else packed)
    keys = [f"item-{i}" for i in range(500)]
    (tmp_path / "keys.txt").write_text("\n".join(keys) + "\n", encoding="utf-8")
    cli(capsys, "build", "--codes", tmp_path / "codes.npy", "--keys", tmp_path / "keys.txt", "--out", tmp_path / "ci")
    queries = packed[[7, 42]].copy()
    queries[:, -1] ^= 1  # near two indexed codes: one bit flipped
    np.save(tmp_path / "q.npy", queries)
    out = cli(capsys, "search", "--index", tmp_path / "ci", "--codes", tmp_path / "q.npy", "--json", "-k", "6")
    for hits, q in zip(json_hits(out), queries):
        d = hamming(packed, q[None, :])
        order = np.lexsort((np.arange(500), d))[:6]  # ties by row = by id
        assert [h["key"] for h in hits] == [keys[i] for i in order]
        assert [h["distance"] for h in hits] == d[order].tolist()
    assert json_hits(out)[0][0] == {"key": "item-7", "distance": 1, "id": 7}


def test_codes_index_refuses_text_and_bad_inputs(tmp_path, capsys):
    np.save(tmp_path / "codes.npy", np.zeros((4, 2), dtype=np.uint8))
    (tmp_path / "three.txt").write_text("a\nb\nc\n", encoding="utf-8")
    err = cli_error(capsys, "build", "--codes", tmp_path / "codes.npy", "--keys", tmp_path / "three.txt",
                    "--out", tmp_path / "x")
    assert "3 lines but there are 4 codes" in err
    np.save(tmp_path / "twos.npy", np.full((4, 16), 2))
    assert "values other than 0 and 1" in cli_error(capsys, "build", "--codes", tmp_path / "twos.npy", "--out", tmp_path / "x")
    cli(capsys, "build", "--codes", tmp_path / "codes.npy", "--out", tmp_path / "ci", "--quiet")
    err = cli_error(capsys, "search", "--index", tmp_path / "ci", "some text")
    assert "no text encoder" in err and "--codes" in err
    np.save(tmp_path / "q8.npy", np.zeros((1, 1), dtype=np.uint8))
    assert "8 bits but the index holds 16-bit" in cli_error(capsys, "search", "--index", tmp_path / "ci",
                                                            "--codes", tmp_path / "q8.npy")
    with pytest.raises(Exception, match="index of codes"):
        HashingPipeline.load(tmp_path / "ci")


# ---- keys and texts -----------------------------------------------------------------------
def test_key_column_and_show_text(tmp_path, capsys):
    docs = records(120, seed=1)
    path = tmp_path / "docs.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["name", "text", "label"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("name", "text", "label")} for r in docs)
    cli(capsys, "train", "--corpus", path, "--hasher", "lsh", "--bits", "32", "--out", tmp_path / "m", "--quiet")
    cli(capsys, "build", "--model", tmp_path / "m", "--corpus", path, "--key-column", "name",
        "--out", tmp_path / "idx", "--quiet")
    text_of = {r["name"]: r["text"] for r in docs}
    assert {HashingPipeline.load(tmp_path / "idx").key_of(i) for i in range(len(docs))} == set(text_of)
    out = cli(capsys, "search", "--index", tmp_path / "idx", "-k", "4", "--show-text", "gzip archive")
    lines = [ln for ln in out.splitlines() if " d=" in ln]
    assert len(lines) == 4
    for line in lines:
        key, shown = line.split(" d=")[1].split(None, 1)[1].split("  | ")
        assert text_of[key].startswith(shown.rstrip(".")) and shown
    hits = json_hits(cli(capsys, "search", "--index", tmp_path / "idx", "--json", "--show-text", "-k", "2", "csv"))
    assert all(h["text"] == text_of[h["key"]] for h in hits[0])
    err = cli_error(capsys, "build", "--model", tmp_path / "m", "--corpus", path, "--key-column", "nope",
                    "--out", tmp_path / "x")
    assert "no key field 'nope'" in err


def test_show_text_needs_stored_texts(tmp_path, capsys):
    """An index saved without texts (as every index was before) loads, and --show-text says why it cannot."""
    docs = [r["text"] for r in records(60)]
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(docs)
    pipe.add(docs)
    pipe.save(tmp_path / "old")
    assert cli(capsys, "search", "--index", tmp_path / "old", "-k", "1", "csv").count(" d=") == 1
    err = cli_error(capsys, "search", "--index", tmp_path / "old", "--show-text", "csv")
    assert "stores no document texts" in err and "rebuild" in err


def test_a_vectorizer_file_that_is_not_one_names_the_option(saved_model, corpus, tmp_path, capsys):
    """#27 (the CLI error contract): the error names --vectorizer and the file, on one line."""
    model_dir, _, _ = saved_model
    np.save(tmp_path / "v.npy", np.zeros(3))
    err = cli_error(capsys, "build", "--model", model_dir, "--vectorizer", tmp_path / "v.npy", "--corpus", corpus,
                    "--out", tmp_path / "x")
    assert err.startswith("nash-index build: error: --vectorizer") and "v.npy" in err
