"""HashingPipeline: fit / add / search, save / load round trips, atomic saves, torch-free serving.

Data: the docstrings of a few standard-library modules (the demo's embedded corpus, small).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from nash_index import pipeline_io  # noqa: E402
from nash_index.demo_corpus import DEMO_MODULES, docstring_corpus  # noqa: E402
from nash_index.pipeline import HashingPipeline, make_index  # noqa: E402
from nash_index.pipeline_io import PipelineFormatError  # noqa: E402
from nash_index.vectorizer import TextVectorizer, VectorizerParams  # noqa: E402

QUERIES = ["parse a date string", "compress data with gzip", "read rows from a csv file",
           "regular expression match", "zzzz unknown words only"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASH_INDEX_CACHE", str(cache))
        return docstring_corpus(DEMO_MODULES, packages=(), min_query_label=5)


@pytest.fixture(scope="module")
def lsh_pipe(corpus):
    pipe = HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    return pipe


@pytest.fixture(scope="module")
def nash_pipe(corpus):
    pytest.importorskip("torch")
    params = {"epochs": 3, "hidden": (64,), "batch_size": 32}
    pipe = HashingPipeline(nbits=16, hasher="nash", hasher_params=params, verbose=False)
    pipe.fit(corpus.train_texts, corpus.train_labels)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    return pipe


def assert_same_results(a: HashingPipeline, b: HashingPipeline, k: int = 10) -> None:
    ra, rb = a.search(QUERIES, k=k), b.search(QUERIES, k=k)
    np.testing.assert_array_equal(ra.ids, rb.ids)
    np.testing.assert_array_equal(ra.distances, rb.distances)
    assert ra.keys == rb.keys


# ---- vectorizer ----------------------------------------------------------------------------
def test_vectorizer_matches_sklearn_tfidf(corpus):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TextVectorizer(VectorizerParams(min_df=2)).fit(corpus.train_texts)
    ref = TfidfVectorizer(stop_words="english", min_df=2, max_df=0.8, max_features=10000).fit(corpus.train_texts)
    assert vec.terms == ref.get_feature_names_out().tolist()
    np.testing.assert_allclose(vec.transform(corpus.test_texts).toarray(),
                               ref.transform(corpus.test_texts).toarray(), rtol=1e-5, atol=1e-6)


def test_vectorizer_save_load(tmp_path, corpus):
    vec = TextVectorizer().fit(corpus.train_texts)
    vec.save(tmp_path / "v.npz")
    back = TextVectorizer.load(tmp_path / "v.npz", vec.to_manifest())
    assert (back.transform(QUERIES) != vec.transform(QUERIES)).nnz == 0


def test_vectorizer_errors():
    with pytest.raises(ValueError, match="vocabulary"):
        TextVectorizer().fit(["the and of", "a an the"])  # stop words only
    with pytest.raises(TypeError, match="not one string"):
        TextVectorizer().fit("one string")


# ---- fit / add / search ----------------------------------------------------------------------
def test_search_returns_ids_distances_keys(lsh_pipe, corpus):
    res = lsh_pipe.search(QUERIES, k=7)
    assert res.ids.shape == res.distances.shape == (len(QUERIES), 7)
    assert np.all(np.diff(res.distances, axis=1) >= 0)
    for row_ids, row_keys in zip(res.ids, res.keys):
        assert row_keys == [corpus.train_keys[i] for i in row_ids]
    # a document finds itself at distance 0
    self_hit = lsh_pipe.search([corpus.train_texts[5]], k=1)
    assert self_hit.distances[0, 0] == 0


def test_k_larger_than_index_pads_with_none(corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts[:3], keys=["a", "b", "c"])
    res = pipe.search(["date"], k=5)
    assert sorted(k for k in res.keys[0] if k) == ["a", "b", "c"]
    assert res.keys[0][3:] == [None, None] and list(res.ids[0, 3:]) == [-1, -1]
    assert len(res.hits(0)) == 3


def test_add_ids_and_keys(corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts)
    ids = pipe.add(corpus.train_texts[:4], ids=[10, 20, 30, 40])
    assert ids.tolist() == [10, 20, 30, 40]
    assert pipe.add(corpus.train_texts[4:6]).tolist() == [41, 42]
    assert pipe.key_of(20) == "20" and pipe.ntotal == 6
    with pytest.raises(ValueError, match="unique"):
        pipe.add(corpus.train_texts[:1], ids=[10])
    with pytest.raises(ValueError, match="keys"):
        pipe.add(corpus.train_texts[:2], keys=["only one"])
    assert pipe.ntotal == 6


def test_usage_errors(corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        pipe.search(["x"])
    pipe.fit(corpus.train_texts)
    with pytest.raises(RuntimeError, match="empty"):
        pipe.search(["x"])
    with pytest.raises(ValueError, match="unknown hasher"):
        HashingPipeline(hasher="magic")
    with pytest.raises(ValueError, match="multiple of 8"):
        HashingPipeline(nbits=12)
    with pytest.raises(ValueError, match="index"):
        HashingPipeline(index="tree")


def test_make_index_auto_rule():
    assert type(make_index(64, n_expected=100)).__name__ == "FlatIndex"
    assert type(make_index(64, n_expected=10_000_000)).__name__ in ("MultiIndexHashing", "FlatIndex")
    assert type(make_index(32, kind="flat")).__name__ == "FlatIndex"


def test_nash_pipeline_trains_and_finds_neighbours(nash_pipe, corpus):
    info = nash_pipe.train_info
    assert info["n_train"] + info["n_val"] == len(corpus.train_texts) or info["n_val"] == 0
    assert info["epochs_run"] >= 1
    res = nash_pipe.search(corpus.train_texts[:20], k=1)
    assert np.all(res.distances[:, 0] == 0)  # each document's own code is in the index


# ---- save / load -----------------------------------------------------------------------------
@pytest.mark.parametrize("hasher", ["lsh", "itq", "sph", "sth"])
def test_baseline_round_trip(tmp_path, corpus, hasher):
    pipe = HashingPipeline(nbits=16, hasher=hasher, verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    pipe.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    assert back.hasher_kind == hasher and back.ntotal == pipe.ntotal
    np.testing.assert_array_equal(back.encode(corpus.test_texts), pipe.encode(corpus.test_texts))
    assert_same_results(pipe, back)


def test_nash_round_trip_identical_results(tmp_path, nash_pipe):
    nash_pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["format"] == "nash_index.pipeline" and manifest["version"] == 1
    assert {"vectorizer.npz", "encoder.npz", "model/weights.pt", "index.nidx", "keys.npz"} <= set(manifest["files"])
    back = HashingPipeline.load(tmp_path / "p")
    assert back.hasher is None  # served by the numpy encoder
    assert_same_results(nash_pipe, back)
    # a loaded pipeline can be saved again (model files carried along) and keeps working
    back.add(["an extra document about dates"], keys=["extra"])
    back.save(tmp_path / "p")
    again = HashingPipeline.load(tmp_path / "p", use_torch=True)
    assert again.hasher is not None and again.ntotal == nash_pipe.ntotal + 1
    hits = again.search(["an extra document about dates"], k=again.ntotal).hits(0)
    assert ("extra", 0) in [(key, d) for key, d, _ in hits]


def test_loaded_pipeline_needs_no_torch(tmp_path, nash_pipe):
    nash_pipe.save(tmp_path / "p")
    expected = nash_pipe.search(QUERIES, k=5).ids.tolist()
    script = textwrap.dedent(f"""
        import sys, json

        class BlockTorch:  # any `import torch` now fails
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockTorch())
        from nash_index.pipeline import HashingPipeline
        pipe = HashingPipeline.load({str(tmp_path / 'p')!r})
        ids = pipe.search({QUERIES!r}, k=5).ids.tolist()
        assert "torch" not in sys.modules
        print(json.dumps(ids))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == expected


def test_empty_pipeline_round_trip(tmp_path, corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts)
    pipe.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == 0 and back.is_fitted
    np.testing.assert_array_equal(back.encode(QUERIES), pipe.encode(QUERIES))


# ---- atomic save -------------------------------------------------------------------------------
def _leftovers(parent: Path) -> list:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_interrupted_save_keeps_previous_pipeline(tmp_path, monkeypatch, corpus, lsh_pipe):
    lsh_pipe.save(tmp_path / "p")
    before = lsh_pipe.search(QUERIES, k=5)
    bigger = HashingPipeline(nbits=32, hasher="lsh", seed=1, verbose=False).fit(corpus.train_texts)
    bigger.add(corpus.train_texts[:10])

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(pipeline_io, "_write_keys", fail)  # fails after the index file is written
    with pytest.raises(OSError, match="simulated"):
        bigger.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == lsh_pipe.ntotal
    np.testing.assert_array_equal(back.search(QUERIES, k=5).ids, before.ids)
    assert _leftovers(tmp_path) == []  # the temporary directory was removed


def test_killed_save_leaves_previous_pipeline_loadable(tmp_path, lsh_pipe):
    """A process killed mid-save (no cleanup at all) leaves a stray temp dir, never a broken pipeline."""
    lsh_pipe.save(tmp_path / "p")
    script = textwrap.dedent(f"""
        import os
        from nash_index import pipeline_io
        from nash_index.pipeline import HashingPipeline
        pipe = HashingPipeline.load({str(tmp_path / 'p')!r})
        pipe.add(["one more"])
        pipeline_io._write_keys = lambda *a: os._exit(9)
        pipe.save({str(tmp_path / 'p')!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert any(name.startswith(".p.tmp-") for name in _leftovers(tmp_path))
    back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == lsh_pipe.ntotal


def test_crash_between_renames_recovers_backup(tmp_path, monkeypatch, lsh_pipe):
    lsh_pipe.save(tmp_path / "p")
    real_replace = os.replace
    calls = []

    def replace_then_crash(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the old pipeline is already moved aside
            raise OSError("power cut (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(pipeline_io.os, "replace", replace_then_crash)
    with pytest.raises(OSError):
        lsh_pipe.save(tmp_path / "p")
    monkeypatch.setattr(pipeline_io.os, "replace", real_replace)
    assert not (tmp_path / "p").exists()
    with pytest.warns(RuntimeWarning, match="interrupted save"):
        back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == lsh_pipe.ntotal
    lsh_pipe.save(tmp_path / "p")  # the next save completes and cleans up
    assert (tmp_path / "p").is_dir() and _leftovers(tmp_path) == []


def test_corrupted_or_foreign_directories_are_rejected(tmp_path, lsh_pipe):
    lsh_pipe.save(tmp_path / "p")
    with open(tmp_path / "p" / "index.nidx", "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(PipelineFormatError, match="corrupted"):
        HashingPipeline.load(tmp_path / "p")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PipelineFormatError, match="no manifest"):
        HashingPipeline.load(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        HashingPipeline.load(tmp_path / "missing")
    lsh_pipe.save(tmp_path / "q")
    manifest = json.loads((tmp_path / "q" / "manifest.json").read_text())
    manifest["version"] = 99
    (tmp_path / "q" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PipelineFormatError, match="version 99"):
        HashingPipeline.load(tmp_path / "q")


def test_save_refuses_to_replace_a_file(tmp_path, lsh_pipe):
    (tmp_path / "f").write_text("not a pipeline")
    with pytest.raises(FileExistsError):
        lsh_pipe.save(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "not a pipeline"
