"""Corpus loaders, the VDSH preprocessing recipe, corpus lookup and the processed-matrix cache."""
from __future__ import annotations

import io
import json
import math
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from nash_index import datasets as nd
from nash_index.datasets import registry
from nash_index.datasets.reuters import read_reuters_documents
from nash_index.evaluation.labels import indicator_from_label_sets

# ----------------------------------------------------------------------------- helpers


def write_tar(path: Path, files: dict) -> Path:
    """A .tar.gz holding ``files`` (name -> bytes)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def sgml_doc(newid: int, split: str, topics_attr: str, topics, body: str | None, title: str = "T") -> str:
    d = "".join(f"<D>{t}</D>" for t in topics)
    text = f"<TITLE>{title}</TITLE><BODY>{body}</BODY>" if body is not None else f"<TITLE>{title}</TITLE> plain {title.lower()} text"
    return (f'<REUTERS TOPICS="{topics_attr}" LEWISSPLIT="{split}" CGISPLIT="X" OLDID="1" NEWID="{newid}">\n'
            f"<DATE>1987</DATE>\n<TOPICS>{d}</TOPICS>\n<PLACES></PLACES>\n<TEXT>&#2;\n{text}</TEXT>\n</REUTERS>\n")


def tiny_reuters(tmp_path: Path) -> Path:
    f0 = "<!DOCTYPE lewis SYSTEM \"lewis.dtd\">\n" + "".join([
        sgml_doc(1, "TRAIN", "YES", ["earn"], "profit rose &lt;sharply&gt; &#3; caf\xe9 quarter"),
        sgml_doc(2, "TRAIN", "YES", ["acq", "earn"], "merger shares bid quarter"),
        sgml_doc(3, "TRAIN", "NO", ["earn"], "not in modapte"),
        sgml_doc(4, "TRAIN", "YES", ["cocoa"], "cocoa crop"),
    ])
    f1 = "".join([
        sgml_doc(5, "TEST", "YES", ["earn"], "profit quarter net"),
        sgml_doc(6, "TEST", "YES", ["cocoa"], "cocoa only"),
        sgml_doc(7, "NOT-USED", "YES", ["earn"], "unused"),
        sgml_doc(8, "TEST", "YES", ["acq"], None, title="BID"),
        sgml_doc(9, "TRAIN", "YES", ["acq"], "takeover offer"),
    ])
    return write_tar(tmp_path / "reuters21578.tar.gz", {
        "reuters21578/reut2-000.sgm": f0.encode("latin-1"),
        "reuters21578/reut2-001.sgm": f1.encode("latin-1"),
        "reuters21578/README.txt": b"not sgml",
    })


def post(subject: str, body: str) -> bytes:
    return f"From: a@b.c\nSubject: {subject}\nLines: 3\n\n{body}\n".encode("latin-1")


def tiny_newsgroups(tmp_path: Path) -> Path:
    return write_tar(tmp_path / "20news-bydate.tar.gz", {
        "20news-bydate-train/sci.space/1": post("orbit", "rocket launch orbit"),
        "20news-bydate-train/sci.space/2": post("moon", "moon landing\n> quoted line\nIn article <x> bob writes:"),
        "20news-bydate-train/rec.autos/3": post("cars", "engine wheel"),
        "20news-bydate-test/rec.autos/4": post("brakes", "brake pads"),
        "20news-bydate-test/sci.space/5": post("mars", "mars rover"),
    })


def raw_corpus(train, train_labels, test, test_labels, n_labels=2) -> nd.RawCorpus:
    names = [f"l{j}" for j in range(n_labels)]
    return nd.RawCorpus(
        name="toy", train_texts=list(train), test_texts=list(test),
        train_labels=indicator_from_label_sets([[names[j] for j in labs] for labs in train_labels], names),
        test_labels=indicator_from_label_sets([[names[j] for j in labs] for labs in test_labels], names),
        label_names=names, train_keys=[f"tr{i}" for i in range(len(train))],
        test_keys=[f"te{i}" for i in range(len(test))],
    )


LOOSE = nd.Recipe(min_df=1, max_df=1.0, min_tokens=1)

# ----------------------------------------------------------------------------- Reuters


def test_reuters_modapte_parse(tmp_path, datasets_tmp_cache):
    raw = nd.load_reuters(tiny_reuters(tmp_path), n_topics=2)
    # train topic frequencies: earn 2, acq 2, cocoa 1 -> top 2 = acq, earn (ties by name)
    assert raw.label_names == ["acq", "earn"]
    # doc 3 (TOPICS=NO), 4 (cocoa only), 6 (cocoa only), 7 (NOT-USED) are out
    assert raw.train_keys == ["reut2-000.sgm#NEWID=1", "reut2-000.sgm#NEWID=2", "reut2-001.sgm#NEWID=9"]
    assert raw.test_keys == ["reut2-001.sgm#NEWID=5", "reut2-001.sgm#NEWID=8"]
    np.testing.assert_array_equal(raw.train_labels, [[False, True], [True, True], [True, False]])
    assert raw.multi_label
    first = raw.train_texts[0]
    assert "<sharply>" in first and "caf\xe9" in first and "&#3;" not in first
    assert raw.test_texts[1].startswith("BID") and "plain bid text" in raw.test_texts[1]  # TEXT without BODY


def test_reuters_from_unpacked_folder(tmp_path):
    archive = tiny_reuters(tmp_path)
    folder = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        # the "data" filter exists from Python 3.12 (and in security backports); our archive is trusted
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(folder, **kwargs)
    a = nd.load_reuters(archive, n_topics=2)
    b = nd.load_reuters(folder / "reuters21578", n_topics=2)
    assert a.train_texts == b.train_texts and a.test_keys == b.test_keys
    renamed = archive.rename(tmp_path / "my-copy.tgz")   # an explicit file may have any name
    assert nd.load_reuters(renamed, n_topics=2).train_keys == a.train_keys


# ----------------------------------------------------------------------------- 20 Newsgroups


def test_newsgroups_labels_and_cleaning(tmp_path):
    raw = nd.load_20newsgroups(tiny_newsgroups(tmp_path / ""))
    assert raw.label_names == ["rec.autos", "sci.space"]
    assert raw.train_keys == ["20news-bydate-train/rec.autos/3", "20news-bydate-train/sci.space/1",
                              "20news-bydate-train/sci.space/2"]
    np.testing.assert_array_equal(raw.train_labels, [[True, False], [False, True], [False, True]])
    np.testing.assert_array_equal(raw.test_labels, [[True, False], [False, True]])
    assert "Subject" not in raw.train_texts[0] and "engine wheel" in raw.train_texts[0]
    assert "> quoted line" in raw.train_texts[2]           # default removes headers only
    clean = nd.load_20newsgroups(tmp_path / "20news-bydate.tar.gz", remove=("headers", "quotes"))
    assert "quoted" not in clean.train_texts[2] and "writes:" not in clean.train_texts[2]
    verbatim = nd.load_20newsgroups(tmp_path / "20news-bydate.tar.gz", remove=())
    assert verbatim.train_texts[0].startswith("From: a@b.c")
    with pytest.raises(ValueError, match="unknown removal"):
        nd.load_20newsgroups(tmp_path / "20news-bydate.tar.gz", remove=("signatures",))


# ----------------------------------------------------------------------------- TMC and VDSH .mat


def write_tmc(folder: Path, n_train_labels: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "TrainingData.txt").write_text("17~the pilot_reported smoke.\nengine failure on climb\n")
    (folder / "TestData.txt").write_text("runway incursion\n\n")
    rows = ["1,-1,-1", "-1,1,1"][: n_train_labels or 2]
    (folder / "TrainCategoryMatrix.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    (folder / "TestTruth.csv").write_bytes(b"-1,-1,1\r\n")
    return folder


def test_tmc_reader(tmp_path):
    raw = nd.load_tmc(write_tmc(tmp_path / "tmc2007"))
    assert raw.train_texts == ["the pilot reported smoke", "engine failure on climb"]
    assert raw.test_texts == ["runway incursion"]
    np.testing.assert_array_equal(raw.train_labels, [[True, False, False], [False, True, True]])
    np.testing.assert_array_equal(raw.test_labels, [[False, False, True]])
    assert raw.label_names == ["anomaly_01", "anomaly_02", "anomaly_03"]
    # found through a data folder, too
    assert nd.load_tmc(tmp_path).train_keys == ["TrainingData.txt:1", "TrainingData.txt:2"]


def test_tmc_reader_rejects_misaligned_labels(tmp_path):
    with pytest.raises(ValueError, match="label rows"):
        nd.load_tmc(write_tmc(tmp_path / "tmc", n_train_labels=1))


def test_vdsh_mat_reader(tmp_path):
    rng = np.random.default_rng(0)
    mats = {}
    for key, n in (("train", 12), ("cv", 4), ("test", 5)):
        mats[key] = sp.random(n, 30, density=0.2, format="csc", random_state=int(rng.integers(1000)))
        mats[f"gnd_{key}"] = (rng.random((n, 3)) < 0.4).astype(np.float64)
    path = tmp_path / "reuters.tfidf.mat"
    scipy.io.savemat(path, mats)
    c = nd.load_vdsh_mat(str(path), seed=1)
    assert c.name == "reuters" and c.sizes == {"train": 12, "val": 4, "test": 5}
    assert c.X_train.dtype == np.float32 and sp.isspmatrix_csr(c.X_train)
    # the database is shuffled, rows and labels together
    rows = [int(k.split(":")[1]) for k in c.keys_train]
    assert sorted(rows) == list(range(12)) and rows != list(range(12))
    np.testing.assert_allclose(c.X_train.toarray(), mats["train"].toarray()[rows])
    np.testing.assert_array_equal(c.y_train, mats["gnd_train"][rows] > 0)
    np.testing.assert_array_equal(c.y_val, mats["gnd_cv"] > 0)
    # by name, through NASH_INDEX_DATA-style lookup
    assert nd.load_vdsh_mat("reuters", path=tmp_path, shuffle_train=False).keys_train[:2] == ["train:0", "train:1"]


def test_vdsh_mat_reader_errors(tmp_path):
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"train": sp.eye(3, format="csc")})
    with pytest.raises(ValueError, match="gnd_train"):
        nd.load_vdsh_mat(str(bad))
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"definitely not matlab" * 20)
    with pytest.raises(OSError):
        nd.load_vdsh_mat(str(junk))


# ----------------------------------------------------------------------------- user corpora


def test_user_folder(tmp_path):
    for label, docs in {"cats": ["meow purr", "whiskers"], "dogs": ["bark", "fetch ball", "woof"]}.items():
        (tmp_path / "c" / label).mkdir(parents=True)
        for i, text in enumerate(docs):
            (tmp_path / "c" / label / f"{i}.txt").write_text(text)
    (tmp_path / "c" / "cats" / ".DS_Store").write_bytes(b"\x00junk")
    raw = nd.load_folder(tmp_path / "c", test_fraction=0.4, seed=0)
    assert raw.label_names == ["cats", "dogs"] and len(raw.test_texts) == 2 and len(raw.train_texts) == 3
    assert sorted(raw.train_texts + raw.test_texts) == sorted(["meow purr", "whiskers", "bark", "fetch ball", "woof"])
    for text, lab in zip(raw.train_texts, raw.train_labels):
        assert lab.tolist() == ([True, False] if text in ("meow purr", "whiskers") else [False, True])
    with pytest.raises(ValueError, match="no documents"):
        (tmp_path / "empty").mkdir()
        nd.load_folder(tmp_path / "empty")


def test_user_folder_with_explicit_split(tmp_path):
    for split, label, text in [("train", "a", "x y"), ("train", "b", "z"), ("test", "a", "q")]:
        (tmp_path / split / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / split / label / "doc.txt").write_text(text)
    raw = nd.load_folder(tmp_path)
    assert raw.train_texts == ["x y", "z"] and raw.test_texts == ["q"] and raw.test_keys == ["test/a/doc.txt"]


def test_user_csv_and_jsonl(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("body,topic,split\nhello world,a;b,train\nbye now,b,train\nsee you,,test\n")
    raw = nd.load_csv(csv_path, text_column="body", label_columns="topic", label_sep=";", split_column="split")
    assert raw.label_names == ["a", "b"] and raw.train_texts == ["hello world", "bye now"]
    np.testing.assert_array_equal(raw.train_labels, [[True, True], [False, True]])
    np.testing.assert_array_equal(raw.test_labels, [[False, False]])

    jl = tmp_path / "d.jsonl"
    recs = [{"text": f"doc {i}", "tags": ["x", "y"][: i % 2 + 1], "src": "s"} for i in range(10)]
    jl.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    raw = nd.load_jsonl(jl, label_columns=["tags", "src"], test_fraction=0.3, seed=1)
    assert len(raw.test_texts) == 3 and raw.label_names == ["s", "x", "y"]
    assert raw.train_labels[:, 0].all()

    with pytest.raises(ValueError, match="no 'text' field"):
        nd.load_csv(csv_path)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        nd.load_csv(csv_path, text_column="body", split_column="topic")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{not json}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        nd.load_jsonl(bad)


# ----------------------------------------------------------------------------- lookup


def test_missing_corpus_error_lists_places(tmp_path, datasets_tmp_cache, monkeypatch):
    monkeypatch.setenv("NASH_INDEX_DATA", str(tmp_path / "envdir"))
    with pytest.raises(nd.CorpusNotFoundError) as err:
        nd.load_reuters(tmp_path / "explicit")
    msg = str(err.value)
    assert str(tmp_path / "explicit") in msg and str(tmp_path / "envdir") in msg
    assert str(datasets_tmp_cache / "data") in msg and "NASH_INDEX_DATA" in msg
    assert isinstance(err.value, OSError)


def test_lookup_order_env_then_cache(tmp_path, datasets_tmp_cache, monkeypatch):
    (datasets_tmp_cache / "data").mkdir(parents=True)
    tiny_reuters(datasets_tmp_cache / "data")
    assert nd.load_reuters(n_topics=2).source == str(datasets_tmp_cache / "data" / "reuters21578.tar.gz")
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    tiny_reuters(env_dir)
    monkeypatch.setenv("NASH_INDEX_DATA", str(env_dir))
    assert nd.load_reuters(n_topics=2).source == str(env_dir / "reuters21578.tar.gz")


# ----------------------------------------------------------------------------- preprocessing


def test_token_length_rule_and_stop_words():
    train = [
        "alpha beta gamma delta",                     # 4 tokens: dropped
        "alpha beta gamma delta alpha",               # 5 tokens: kept
        "the and of alpha beta gamma delta a b c",    # stop words and 1-char tokens do not count: 4
        " ".join(["alpha"] * 500),                    # 500: kept
        " ".join(["beta"] * 501),                     # 501: dropped
    ]
    c = nd.vdsh_preprocess(raw_corpus(train, [[0]] * 5, ["alpha beta gamma delta epsilon"] * 2, [[0]] * 2),
                           nd.Recipe(min_df=1, max_df=1.0))
    assert sorted(c.keys_train) == ["tr1", "tr3"]
    assert "the" not in c.vocabulary and "epsilon" not in c.vocabulary   # stop word; test-only word
    # the test docs have 4 in-vocabulary tokens (epsilon is unknown) -> dropped
    assert c.info["dropped"] == {"train": 3, "test": 2}


def test_splits_halving_shuffle_and_tfidf():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(40)]
    labels = [[i % 2] for i in range(40)]
    test_labels = [[i % 2] for i in range(15)] + [[]] * 2   # 2 unlabeled test docs
    raw = raw_corpus(texts, labels, texts[:17], test_labels)
    a = nd.vdsh_preprocess(raw, nd.Recipe(min_df=1, max_df=1.0, seed=7))
    assert a.sizes == {"train": 40, "val": 8, "test": 7}                # ceil(15 / 2) = 8
    assert set(a.keys_val).isdisjoint(a.keys_test) and "te15" not in a.keys_val + a.keys_test
    assert a.keys_train != [f"tr{i}" for i in range(40)] and sorted(a.keys_train) == sorted(raw.train_keys)
    norms = np.sqrt(np.asarray(a.X_train.multiply(a.X_train).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert a.X_train.dtype == np.float32 and a.y_train.dtype == bool
    assert [raw.train_keys[r] for r in a.info["rows"]["train"]] == a.keys_train
    assert [raw.test_keys[r] for r in a.info["rows"]["val"]] == a.keys_val
    # rows stay aligned with their labels and keys
    for i, key in enumerate(a.keys_train):
        assert a.y_train[i].tolist() == raw.train_labels[int(key[2:])].tolist()
    b = nd.vdsh_preprocess(raw, nd.Recipe(min_df=1, max_df=1.0, seed=7))
    assert a.keys_train == b.keys_train and (a.X_test != b.X_test).nnz == 0
    c = nd.vdsh_preprocess(raw, nd.Recipe(min_df=1, max_df=1.0, seed=8))
    assert c.keys_train != a.keys_train
    assert math.isclose(a.info["sizes"]["val"] + a.info["sizes"]["test"], 15)


def test_recipe_validation():
    with pytest.raises(ValueError, match="max_df"):
        nd.Recipe(max_df=0.0)
    with pytest.raises(ValueError, match="min_tokens"):
        nd.Recipe(min_tokens=10, max_tokens=5)
    with pytest.raises(ValueError, match="vocabulary"):
        nd.vdsh_preprocess(raw_corpus(["the and"], [[0]], ["x"], [[0]]))


# ----------------------------------------------------------------------------- cache


def test_load_corpus_caches_processed_matrices(tmp_path, datasets_tmp_cache, monkeypatch):
    src = tiny_reuters(tmp_path)
    recipe = nd.Recipe(min_df=1, max_df=1.0, min_tokens=1)
    first = nd.load_corpus("reuters", src, recipe=recipe)
    files = list((datasets_tmp_cache / "corpora").glob("reuters-*.npz"))
    assert len(files) == 1

    def boom(*_a, **_k):
        raise AssertionError("cache miss: preprocessing ran again")

    monkeypatch.setattr(registry, "vdsh_preprocess", boom)
    again = nd.load_corpus("reuters", src, recipe=recipe)
    assert again.keys_train == first.keys_train and again.vocabulary == first.vocabulary
    assert (again.X_train != first.X_train).nnz == 0 and np.array_equal(again.y_test, first.y_test)
    assert again.info["sizes"] == first.info["sizes"]
    with pytest.raises(AssertionError, match="cache miss"):     # another seed is another entry
        nd.load_corpus("reuters", src, recipe=nd.Recipe(min_df=1, max_df=1.0, min_tokens=1, seed=5))


def test_unknown_corpus_name():
    with pytest.raises(ValueError, match="unknown corpus"):
        nd.load_corpus("imagenet")
    assert nd.canonical_name("NG20") == "20ng"


# ----------------------------------------------------------------------------- real corpora


def test_real_reuters_counts_match_distribution_readme(shared_data_dir):
    docs = read_reuters_documents(shared_data_dir / "reuters21578.tar.gz")
    assert len(docs) == 21578
    assert sorted(int(d["newid"]) for d in docs) == list(range(1, 21579))
    split = Counter((d["lewissplit"], d["topics_attr"]) for d in docs)
    assert split[("TRAIN", "YES")] == 9603 and split[("TEST", "YES")] == 3299
    assert split[("TRAIN", "NO")] == 4022 and split[("NOT-USED", "YES")] == 574
    assert sum(1 for d in docs if d["topics"]) == 11367


def test_real_newsgroups_counts(shared_data_dir):
    raw = nd.load_20newsgroups(shared_data_dir)
    assert (len(raw.train_texts), len(raw.test_texts)) == (11314, 7532)
    per_group = dict(zip(raw.label_names, raw.train_labels.sum(axis=0)))
    assert per_group["alt.atheism"] == 480 and per_group["talk.religion.misc"] == 377
    assert raw.test_labels.sum(axis=0)[raw.label_names.index("sci.space")] == 394
    assert (raw.train_labels.sum(axis=1) == 1).all()


def test_real_reuters_processed(shared_data_dir, datasets_tmp_cache):
    c = nd.load_corpus("reuters", shared_data_dir)
    s = c.sizes
    assert s["val"] - s["test"] in (0, 1) and len(c.vocabulary) == 10000 and len(c.label_names) == 20
    assert c.y_test.any(axis=1).all() and c.y_train.any(axis=1).all()
    assert len(set(c.keys_train)) == s["train"]
    # published VDSH sizes differ (see the module docstring), but the database is the same order of size
    assert abs(s["train"] - nd.PUBLISHED_SIZES["reuters"]["train"]) < 0.1 * s["train"]
