"""HashingPipeline: fit / add / search, the index it chooses or is given, NASH end to end.

Data: the docstrings of a few standard-library modules (the demo's embedded corpus, small; the
session fixture ``docstring_raw`` of tests/conftest.py). Saving and loading: test_pipeline_storage.py.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from pipeline_checks import QUERIES, assert_same_results, corpus, lsh_pipe  # noqa: E402, F401 (fixtures)

import nash_index as ni  # noqa: E402
from nash_index.index.factory import MIH_MAX_BITS, MIH_MIN_BITS, MIH_MIN_CODES  # noqa: E402
from nash_index.pipeline import HashingPipeline, TextSearchResult  # noqa: E402
from nash_index.pipeline import documents as documents_module  # noqa: E402


@pytest.fixture(scope="module")
def nash_pipe(corpus):
    pytest.importorskip("torch")
    params = {"epochs": 3, "hidden": (64,), "batch_size": 32}
    pipe = HashingPipeline(nbits=16, hasher="nash", hasher_params=params, verbose=False)
    pipe.fit(corpus.train_texts, corpus.train_labels)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    return pipe


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

def test_text_search_result_field_order():
    """(distances, ids, keys, no_known_terms, scores): the order of nash_index.SearchResult, then the
    keys; rescoring's ``scores`` came last, so positional construction stays as it was."""
    assert [f.name for f in dataclasses.fields(TextSearchResult)] == ["distances", "ids", "keys", "no_known_terms",
                                                                      "scores"]
    assert list(ni.SearchResult._fields) == ["distances", "ids"]
    d, i = np.array([[0, 3]], dtype=np.int32), np.array([[7, -1]])
    res = TextSearchResult(d, i, [["seven", None]])
    assert res.distances is d and res.ids is i and len(res) == 1
    assert res.hits(0) == [("seven", 0, 7)]
    assert res.no_known_terms.tolist() == [False]  # built by hand: nothing marked


def test_search_result_is_the_index_answer(lsh_pipe, corpus):
    res = lsh_pipe.search(QUERIES, k=6)
    direct = lsh_pipe.index.search(lsh_pipe.encode(QUERIES), 6)
    np.testing.assert_array_equal(res.distances, direct.distances)
    np.testing.assert_array_equal(res.ids, direct.ids)


@pytest.mark.parametrize("nbits,n,kind", [(64, 100, "FlatIndex"), (32, 100, "FlatIndex"),
                                          (64, MIH_MIN_CODES - 1, "FlatIndex"),
                                          (64, MIH_MIN_CODES, "MultiIndexHashing"),
                                          (128, 10_000_000, "MultiIndexHashing"), (256, 10_000_000, "MultiIndexHashing"),
                                          (32, 10_000_000, "FlatIndex"), (512, 10_000_000, "FlatIndex")])
def test_make_index_auto_rule(nbits, n, kind):
    """kind="auto": MIH from MIH_MIN_CODES codes at MIH_MIN_BITS..MIH_MAX_BITS bits, else flat."""
    assert (MIH_MIN_CODES, MIH_MIN_BITS, MIH_MAX_BITS) == (200_000, 64, 256)
    assert type(ni.make_index(nbits, n_expected=n)).__name__ == kind
    assert type(ni.make_index(nbits, n_expected=n, kind="flat")).__name__ == "FlatIndex"
    assert type(ni.make_index(nbits, n_expected=n, kind="mih")).__name__ == "MultiIndexHashing"


@pytest.mark.parametrize("index,n_texts,kind", [("auto", 40, "FlatIndex"), ("flat", 40, "FlatIndex"),
                                                ("mih", 40, "MultiIndexHashing")])
def test_pipeline_index_kind(corpus, monkeypatch, index, n_texts, kind):
    """The pipeline asks nash_index.make_index for the size of its first batch and its code length."""
    calls = []
    real = documents_module.make_index

    def spy(nbits, n_expected=None, kind="auto", **kw):
        calls.append((nbits, n_expected, kind))
        return real(nbits, n_expected=n_expected, kind=kind, **kw)

    monkeypatch.setattr(documents_module, "make_index", spy)
    pipe = HashingPipeline(nbits=64, hasher="lsh", index=index, verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts[:n_texts])
    assert calls == [(64, n_texts, index)]
    assert type(pipe.index).__name__ == kind
    pipe.add(corpus.train_texts[n_texts:n_texts + 5])  # later adds go to the same index
    assert len(calls) == 1 and pipe.ntotal == n_texts + 5


def test_attach_index(corpus, tmp_path):
    pipe = HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(corpus.train_texts)
    codes = pipe.encode(corpus.train_texts)
    ids = np.arange(codes.shape[0], dtype=np.int64) * 3 + 1000
    index = ni.MultiIndexHashing(32)
    index.add(codes, ids)
    pipe.attach_index(index)
    assert pipe.index is index and pipe.ntotal == codes.shape[0]
    res = pipe.search(QUERIES, k=5)
    direct = index.search(pipe.encode(QUERIES), 5)
    np.testing.assert_array_equal(res.ids, direct.ids)
    np.testing.assert_array_equal(res.distances, direct.distances)
    assert res.keys == [[str(i) for i in row] for row in direct.ids]  # its ids become the keys
    assert pipe.key_of(1003) == "1003"
    # adding continues after the attached index's largest id, and the whole thing saves
    new = pipe.add(["one more document about dates"], keys=["extra"])
    assert new.tolist() == [int(ids.max()) + 1] and pipe.ntotal == codes.shape[0] + 1
    pipe.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    assert type(back.index).__name__ == "MultiIndexHashing"
    assert_same_results(pipe, back)
    with pytest.raises(ValueError, match="64-bit codes but this pipeline makes 32-bit"):
        pipe.attach_index(ni.FlatIndex(64))


# ---- NASH end to end ---------------------------------------------------------------------------
def test_nash_pipeline_trains_and_finds_neighbours(nash_pipe, corpus):
    info = nash_pipe.train_info
    assert info["n_train"] + info["n_val"] == len(corpus.train_texts) or info["n_val"] == 0
    assert info["epochs_run"] >= 1
    res = nash_pipe.search(corpus.train_texts[:20], k=1)
    assert np.all(res.distances[:, 0] == 0)  # each document's own code is in the index


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
