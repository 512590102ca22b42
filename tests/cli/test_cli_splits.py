"""The CLI splits a corpus as ``load_corpus`` does (#15 item 4): train is the database, validation
selects the training epoch, test holds the queries, and ``evaluate`` says so.

Checked on a generated Reuters-21578 archive (the loader's real format, small enough to run in
seconds) against ``nash_index.datasets.load_corpus`` itself, and on a user JSONL corpus."""
from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from nash_index.cli import app  # noqa: E402
from nash_index.datasets import load_corpus, load_raw  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

WORDS = {"earn": "profit net quarter dividend shares income revenue loss cents",
         "grain": "wheat corn harvest tonnes crop export farmers bushels acres",
         "crude": "oil barrels opec prices refinery output pipeline gasoline"}


def reuters_archive(path: Path, n_train: int = 150, n_test: int = 90) -> Path:
    """A Reuters-21578-format archive: ModApte TRAIN/TEST documents in three topics, a few of them
    too short for the VDSH recipe and a few unlabelled (which the recipe drops)."""
    rng = random.Random(0)
    docs = []
    for newid in range(1, n_train + n_test + 1):
        split = "TRAIN" if newid <= n_train else "TEST"
        topic = rng.choice(sorted(WORDS))
        body = " ".join(rng.choices(WORDS[topic].split(), k=3 if newid % 17 == 0 else 15))
        docs.append(f'<REUTERS TOPICS="YES" LEWISSPLIT="{split}" CGISPLIT="X" OLDID="1" NEWID="{newid}">\n'
                    f"<DATE>1987</DATE>\n<TOPICS><D>{topic}</D></TOPICS>\n<PLACES></PLACES>\n"
                    f"<TEXT>&#2;\n<TITLE>T{newid}</TITLE><BODY>{body}</BODY></TEXT>\n</REUTERS>\n")
    data = ("<!DOCTYPE lewis SYSTEM \"lewis.dtd\">\n" + "".join(docs)).encode("latin-1")
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("reuters21578/reut2-000.sgm")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)
    monkeypatch.setenv("NASH_INDEX_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return reuters_archive(tmp_path_factory.mktemp("reuters") / "reuters21578.tar.gz")


def cli(capsys, *args) -> str:
    status = app.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def test_named_corpus_uses_load_corpus_split(archive, tmp_path, capsys):
    corpus = load_corpus("reuters", archive)
    sizes = corpus.sizes
    assert 0 < sizes["train"] < 150 and sizes["val"] > 0 and sizes["test"] > 0  # the recipe dropped some
    out = cli(capsys, "train", "--corpus", archive, "--hasher", "lsh", "--bits", "16", "--out", tmp_path / "m")
    assert f"{sizes['train']} train / {sizes['val']} validation / {sizes['test']} test documents" in out
    assert f"on {sizes['train']} documents" in out
    result = json.loads(cli(capsys, "evaluate", "--model", tmp_path / "m", "--corpus", archive, "--json"))
    assert (result["n_db"], result["n_val"], result["n_queries"]) == (sizes["train"], sizes["val"], sizes["test"])
    out = cli(capsys, "evaluate", "--model", tmp_path / "m", "--corpus", archive, "--baselines", "none")
    assert f"{sizes['train']} database (train) / {sizes['val']} validation" in out
    assert f"/ {sizes['test']} queries (test)" in out
    for split, keys in (("val", corpus.keys_val), ("test", corpus.keys_test), ("all", None)):
        cli(capsys, "build", "--model", tmp_path / "m", "--corpus", archive, "--split", split,
            "--out", tmp_path / split, "--quiet")
        pipe = HashingPipeline.load(tmp_path / split)
        built = [pipe.key_of(i) for i in range(pipe.ntotal)]
        assert built == (keys if keys is not None else corpus.keys_train + corpus.keys_val + corpus.keys_test)


def test_train_validates_on_the_validation_split(archive, tmp_path, capsys):
    pytest.importorskip("torch")
    sizes = load_corpus("reuters", archive).sizes
    cli(capsys, "train", "--corpus", archive, "--bits", "8", "--epochs", "1", "--out", tmp_path / "m", "--quiet")
    info = json.loads((tmp_path / "m" / "manifest.json").read_text())["train_info"]
    assert (info["n_train"], info["n_val"]) == (sizes["train"], sizes["val"])


def test_user_corpus_validates_on_half_of_its_test_split(tmp_path, capsys):
    rng = random.Random(1)
    with open(tmp_path / "c.jsonl", "w", encoding="utf-8") as fh:
        for i in range(200):
            topic = rng.choice(sorted(WORDS))
            fh.write(json.dumps({"text": " ".join(rng.choices(WORDS[topic].split(), k=10)), "label": topic}) + "\n")
    out = cli(capsys, "train", "--corpus", tmp_path / "c.jsonl", "--test-fraction", "0.5", "--hasher", "lsh",
              "--out", tmp_path / "m")
    assert "100 train / 50 validation / 50 test documents" in out
    result = json.loads(cli(capsys, "evaluate", "--model", tmp_path / "m", "--corpus", tmp_path / "c.jsonl",
                            "--test-fraction", "0.5", "--json"))
    assert (result["n_db"], result["n_val"], result["n_queries"]) == (100, 50, 50)


def test_model_trained_on_load_corpus_rows_builds_with_the_corpus_vocabulary(archive, tmp_path, capsys):
    """The issue's path: NASH trained in Python on load_corpus(...).X_train, saved, then indexed by the CLI."""
    torch = pytest.importorskip("torch")
    from conftest import hamming
    from nash_index import NASH

    corpus = load_corpus("reuters", archive)
    vec = corpus.vectorizer()  # reproduces the recipe's rows exactly, from texts
    texts = corpus.split_texts(load_raw("reuters", archive))
    for split in ("train", "val", "test"):
        assert (vec.transform(texts[split]) != getattr(corpus, f"X_{split}")).nnz == 0
    torch.manual_seed(0)
    model = NASH(nbits=16, epochs=2, verbose=False, seed=0).fit(corpus.X_train)
    model.save(tmp_path / "m")
    err_status = app.main(["build", "--model", str(tmp_path / "m"), "--corpus", str(archive), "--out", str(tmp_path / "x")])
    assert err_status == 1 and "--vectorizer corpus" in capsys.readouterr().err
    cli(capsys, "build", "--model", tmp_path / "m", "--vectorizer", "corpus", "--corpus", archive, "--split", "train",
        "--out", tmp_path / "idx", "--quiet")
    queries = texts["test"][:3]
    out = cli(capsys, "search", "--index", tmp_path / "idx", "--json", "-k", "5", *queries)
    db = model.encode(corpus.X_train)  # the torch model on the recipe's own rows
    for line, q in zip(out.splitlines(), model.encode(corpus.X_test[:3])):
        hits = json.loads(line)["results"]
        d = hamming(db, q[None, :])
        assert [h["distance"] for h in hits] == sorted(d.tolist())[:5]
        assert all(h["distance"] == d[corpus.keys_train.index(h["key"])] for h in hits)
