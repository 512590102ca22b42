"""HashingPipeline(store_vectors=...) and search(..., rescore=n): Hamming candidates re-ranked by the
cosine of the stored float vectors (float32 or int8), saved and loaded with the pipeline.

Oracle: numpy alone. The candidates are the n smallest (Hamming distance, id) pairs (popcount table of
tests/conftest.py), the k results the candidates of highest float64 cosine, ties by id.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from pipeline_checks import QUERIES, corpus, edited_copy, lsh_pipe, word_embedder  # noqa: E402, F401 (fixtures)

import nash_index as ni  # noqa: E402
from conftest import hamming  # noqa: E402
from nash_index.pipeline import HashingPipeline, PipelineFormatError  # noqa: E402
from nash_index.pipeline.vectors import StoredVectors, quantize_int8  # noqa: E402

PAD_DISTANCE = np.iinfo(np.int32).max


def oracle_rescore(db_codes, db_vectors, ids, q_codes, q_vectors, k, n_candidates):
    """(ids, cosines, Hamming distances) of the rescored k, by numpy only."""
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-300)  # noqa: E731
    out_ids = np.full((len(q_codes), k), -1, dtype=np.int64)
    out_cos = np.full((len(q_codes), k), -np.inf)
    out_d = np.full((len(q_codes), k), PAD_DISTANCE, dtype=np.int64)
    for q in range(len(q_codes)):
        dist = hamming(q_codes[q][None, :], db_codes)
        cand = np.lexsort((ids, dist))[:n_candidates]  # the index's rule: by (distance, id)
        cos = unit(db_vectors[cand].astype(np.float64)) @ unit(q_vectors[q].astype(np.float64))
        best = cand[np.lexsort((ids[cand], -cos))[:k]]
        m = len(best)
        out_ids[q, :m], out_d[q, :m] = ids[best], dist[best]
        out_cos[q, :m] = np.sort(cos)[::-1][:m]
    return out_ids, out_cos, out_d


@pytest.fixture(scope="module")
def rescoring(corpus):
    """An ITQ pipeline on word vectors, storing them as float32, ids sparse and added out of order."""
    pipe = HashingPipeline(nbits=16, hasher="itq", embedder=word_embedder, store_vectors=True, verbose=False)
    pipe.fit(corpus.train_texts)
    texts = corpus.train_texts
    ids = 1000 + 7 * np.random.default_rng(3).permutation(len(texts))
    pipe.add(texts[:100], ids=ids[:100])
    pipe.add(texts[100:], ids=ids[100:])
    return pipe, texts, ids


@pytest.mark.parametrize("k, n_candidates", [(1, 1), (5, 20), (10, 10), (10, 60), (7, 400)])
def test_rescored_results_equal_numpy_brute_force(rescoring, k, n_candidates):
    pipe, texts, ids = rescoring
    queries = QUERIES + texts[:5]  # five find themselves: cosine 1
    res = pipe.search(queries, k=k, rescore=n_candidates)
    vectors = word_embedder(texts)
    o_ids, o_cos, o_d = oracle_rescore(pipe.encode(texts), vectors, ids, pipe.encode(queries),
                                       word_embedder(queries), k, n_candidates)
    np.testing.assert_array_equal(res.ids, o_ids)
    np.testing.assert_array_equal(res.distances, o_d)
    np.testing.assert_allclose(res.scores, o_cos, atol=1e-5)
    assert res.scores.dtype == np.float32 and res.distances.dtype == np.int32
    assert res.keys[0] == [str(i) if i >= 0 else None for i in res.ids[0]]
    if n_candidates >= len(texts):  # every document a candidate: a text finds itself (or a duplicate)
        np.testing.assert_allclose(res.scores[len(QUERIES):, 0], 1, atol=1e-5)


def test_rescore_pads_when_candidates_run_out(corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=word_embedder, store_vectors="int8", verbose=False)
    pipe.fit(corpus.train_texts).add(corpus.train_texts[:3], keys=["a", "b", "c"])
    res = pipe.search(["date"], k=5, rescore=8)
    assert list(res.ids[0, 3:]) == [-1, -1] and list(res.distances[0, 3:]) == [PAD_DISTANCE] * 2
    assert np.isneginf(res.scores[0, 3:]).all() and res.keys[0][3:] == [None, None]
    assert sorted(res.keys[0][:3]) == ["a", "b", "c"]


def test_int8_vectors_are_within_tolerance_of_float32():
    """Per-vector scales: each element within half a step (max |x| / 254) of the float."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 64)).astype(np.float32) * rng.uniform(0.01, 100, (50, 1)).astype(np.float32)
    vectors[3] = 0  # a zero vector stays zero
    rows, scales = quantize_int8(vectors)
    assert rows.dtype == np.int8 and np.abs(rows).max() <= 127
    stored = StoredVectors("int8", 64)
    stored.add(np.arange(50), vectors)
    step = np.abs(vectors).max(axis=1, keepdims=True) / 254
    assert np.all(np.abs(stored.vectors_of(np.arange(50)) - vectors) <= step * 1.0001 + 1e-12)


def _fanned_vectors():
    """A query e0 and documents at cosines 0.95, 0.90, ..., 0.05 from it (gaps 0.05 >> int8 error),
    each with one large coordinate so that the per-vector scale is coarse."""
    rng = np.random.default_rng(5)
    dim, cosines = 32, np.arange(0.95, 0.0, -0.05)
    docs = np.zeros((len(cosines), dim), dtype=np.float32)
    for j, c in enumerate(cosines):
        other = rng.standard_normal(dim - 1)
        other /= np.linalg.norm(other)
        docs[j] = np.concatenate([[c], np.sqrt(1 - c * c) * other])
    docs *= rng.uniform(0.5, 50, (len(docs), 1))
    order = rng.permutation(len(docs))  # added in scrambled order
    query = np.zeros((1, dim), dtype=np.float32)
    query[0, 0] = 1
    return docs[order], cosines[order], query


def test_int8_rescoring_keeps_the_float32_order_on_separated_cosines():
    docs, cosines, query = _fanned_vectors()
    results = {}
    for store in (True, "int8"):
        pipe = HashingPipeline(nbits=8, hasher="lsh", store_vectors=store, verbose=False)
        pipe.fit(None, embeddings=docs).add(None, embeddings=docs)
        results[store] = pipe.search(None, k=len(docs), embeddings=query, rescore=len(docs))
    expected = np.argsort(-cosines, kind="stable")
    np.testing.assert_array_equal(results[True].ids[0], expected)
    np.testing.assert_array_equal(results["int8"].ids[0], expected)
    np.testing.assert_allclose(results[True].scores[0], cosines[expected], atol=1e-5)
    np.testing.assert_allclose(results["int8"].scores[0], cosines[expected], atol=1e-2)


@pytest.mark.parametrize("store", [True, "int8"])
def test_stored_vectors_survive_save_and_load(corpus, tmp_path, store):
    pipe = HashingPipeline(nbits=16, hasher="itq", embedder=word_embedder, store_vectors=store, verbose=False)
    pipe.fit(corpus.train_texts).add(corpus.train_texts, ids=np.arange(len(corpus.train_texts)) * 3 + 5)
    pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    dtype = "int8" if store == "int8" else "float32"
    assert manifest["vectors"] == {"file": "vectors.npz", "dtype": dtype, "dim": 48, "count": pipe.ntotal}
    assert "vectors.npz" in manifest["files"]  # checksummed like every file
    back = HashingPipeline.load(tmp_path / "p", embedder=word_embedder)
    assert back.vector_dtype == dtype and back.vectors.rows.dtype == np.dtype(dtype)
    a, b = pipe.search(QUERIES, k=8, rescore=40), back.search(QUERIES, k=8, rescore=40)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.distances, b.distances)
    back.add(["one more text about dates"])  # a loaded pipeline keeps storing vectors
    assert len(back.vectors) == back.ntotal


def test_rescore_without_stored_vectors_raises(corpus, lsh_pipe):
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=word_embedder, verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts[:20])
    for p in (pipe, lsh_pipe):
        with pytest.raises(ValueError, match="rescore needs the documents' float vectors.*store_vectors=True"):
            p.search(QUERIES, k=5, rescore=20)
    stored = HashingPipeline(nbits=16, hasher="lsh", embedder=word_embedder, store_vectors=True, verbose=False)
    stored.fit(corpus.train_texts).add(corpus.train_texts[:20])
    with pytest.raises(ValueError, match=r"rescore .* must be >= k \(5\), got 4"):
        stored.search(QUERIES, k=5, rescore=4)
    with pytest.raises(ValueError, match="rescore"):
        stored.search(QUERIES, k=5, rescore=0)


def test_reset_and_attach_index_drop_the_vectors(corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=word_embedder, store_vectors=True, verbose=False)
    pipe.fit(corpus.train_texts).add(corpus.train_texts[:20])
    pipe.reset()
    assert len(pipe.vectors) == 0 and pipe.vectors.dtype == "float32"
    pipe.add(corpus.train_texts[:20])
    index = ni.FlatIndex(16)
    index.add(pipe.encode(corpus.train_texts[:4]))
    pipe.attach_index(index)
    assert len(pipe.vectors) == 0
    with pytest.raises(ValueError, match="no stored vector for id 0"):
        pipe.search(QUERIES, k=2, rescore=4)


def test_a_pipeline_with_an_attached_index_saves_and_loads(corpus, tmp_path):
    """Documents of an attached index have no vector; the saved pipeline used to be refused at load."""
    pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=word_embedder, store_vectors=True, verbose=False)
    pipe.fit(corpus.train_texts)
    index = ni.FlatIndex(16)
    index.add(pipe.encode(corpus.train_texts[:30]))
    pipe.attach_index(index)
    pipe.add(corpus.train_texts[30:40])  # these keep their vectors
    pipe.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p", embedder=word_embedder)
    assert back.ntotal == 40 and back.vectors.ids.tolist() == list(range(30, 40))
    np.testing.assert_array_equal(back.search(QUERIES, k=5).ids, pipe.search(QUERIES, k=5).ids)


# ---- damaged files of a dense pipeline ----------------------------------------------------
@pytest.fixture(scope="module")
def saved_dense(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("dense")
    for store in (True, "int8"):
        pipe = HashingPipeline(nbits=16, hasher="lsh", embedder=word_embedder, store_vectors=store, verbose=False)
        pipe.fit(corpus.train_texts[:150]).add(corpus.train_texts[:40])
        pipe.save(root / str(store))
    return root


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "half":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        flipped = bytearray(data)
        for pos in np.linspace(0, len(data) - 1, 9).astype(int):
            flipped[pos] ^= 0xFF
        path.write_bytes(bytes(flipped))
    else:
        path.unlink()


@pytest.mark.parametrize("store", ["True", "int8"])
@pytest.mark.parametrize("how", ["half", "flip", "missing"])
def test_damaged_vectors_file_raises_format_error(saved_dense, tmp_path, store, how):
    for verify in (True, False):
        target = tmp_path / f"p-{verify}"
        shutil.copytree(saved_dense / store, target)
        _damage(target / "vectors.npz", how)
        with pytest.raises(PipelineFormatError, match="vectors.npz"):
            HashingPipeline.load(target, verify=verify, embedder=word_embedder)


def _rewrite(path: Path, **changes) -> None:
    with np.load(path) as z:
        arrays = {name: z[name] for name in z.files}
    arrays.update(changes)
    with open(path, "wb") as fh:
        np.savez(fh, **{name: value for name, value in arrays.items() if value is not None})


@pytest.mark.parametrize("store, changes, fragment", [
    ("True", {"ids": np.arange(40) + 1}, "vectors of other ids"),
    ("True", {"ids": np.arange(40)[::-1].copy()}, "ascending"),
    ("True", {"vectors": np.zeros((40, 47), dtype=np.float32)}, "vectors must have shape"),
    ("True", {"vectors": np.zeros((40, 48), dtype=np.float64)}, "dtype float32"),
    ("True", {"vectors": np.full((40, 48), np.nan, dtype=np.float32)}, "non-finite"),
    ("int8", {"scales": None}, r"lacks the array\(s\) \['scales'\]"),
    ("int8", {"scales": -np.ones(40, dtype=np.float32)}, "scales must be >= 0"),
    ("int8", {"vectors": np.zeros((40, 48), dtype=np.float32)}, "dtype int8|must hold integers"),
])
def test_inconsistent_vectors_file_raises_format_error(saved_dense, tmp_path, store, changes, fragment):
    shutil.copytree(saved_dense / store, tmp_path / "p")
    _rewrite(tmp_path / "p" / "vectors.npz", **changes)
    with pytest.raises(PipelineFormatError, match=f"vectors.npz.*({fragment})"):
        HashingPipeline.load(tmp_path / "p", verify=False, embedder=word_embedder)


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.update(embedder="callable"), "embedder"),
    (lambda m: m["embedder"].update(kind="bert"), "invalid embedder entry"),
    (lambda m: m.update(embedding_dim=0), "embedding_dim"),
    (lambda m: m.update(embedding_dim=47), "from 47-d vectors"),
    (lambda m: m["vectors"].update(file="../x.npz"), "vectors"),
    (lambda m: m["vectors"].update(dtype="float16"), "dtype"),
    (lambda m: m["vectors"].update(count=3), "manifest says 3"),
])
def test_inconsistent_dense_manifest_raises_format_error(saved_dense, tmp_path, edit, fragment):
    edited = edited_copy(saved_dense / "True", tmp_path / "p", edit)
    with pytest.raises(PipelineFormatError, match=fragment):
        HashingPipeline.load(edited, verify=False, embedder=word_embedder)
