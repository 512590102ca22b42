"""DocumentStore (nash_index.pipeline.documents): codes, keys and vectors of a pipeline's documents,
checked against a numpy brute force (Hamming distances by popcount, cosines by dot products)."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from nash_index.pipeline import PipelineFormatError
from nash_index.pipeline.documents import DocumentStore, store_entries, store_files
from nash_index.pipeline.keys import DocumentKeys
from nash_index.pipeline.vectors import StoredVectors

NBITS, DIM = 32, 8


def _hamming(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(nq, n) Hamming distances of packed codes, bit by bit."""
    return np.unpackbits(queries[:, None, :] ^ codes[None, :, :], axis=2).sum(axis=2)


def _nearest(distances: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Per row, the positions of the k smallest distances, ties by ascending id."""
    return np.stack([np.lexsort((ids, row))[:k] for row in distances])


@pytest.fixture
def docs():
    """300 documents in three batches under sparse ids: few distinct codes (many distance ties)."""
    rng = np.random.default_rng(3)
    centres = rng.integers(0, 256, (6, NBITS // 8), dtype=np.uint8)
    codes = centres[rng.integers(0, 6, 300)] ^ (rng.random((300, NBITS // 8)) < 0.03).astype(np.uint8)
    ids = rng.permutation(10**6)[:300].astype(np.int64)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    return codes, ids, vectors


def _filled(docs, vector_dtype="float32") -> DocumentStore:
    codes, ids, vectors = docs
    store = DocumentStore(NBITS, "flat", vector_dtype)
    store.keep_vectors(DIM)
    for part in np.array_split(np.arange(len(ids)), 3):
        new = store.new_ids(ids[part], len(part))
        store.add(new, codes[part], [f"doc-{i}" for i in ids[part]], [f"text {i}" for i in ids[part]], vectors[part])
    return store


def test_search_matches_brute_force(docs):
    codes, ids, _ = docs
    store = _filled(docs)
    queries = np.concatenate([codes[:5], np.random.default_rng(4).integers(0, 256, (3, NBITS // 8), dtype=np.uint8)])
    result = store.search(queries, 12)
    distances = _hamming(queries, codes)
    order = _nearest(distances, ids, 12)
    np.testing.assert_array_equal(result.ids, ids[order])
    np.testing.assert_array_equal(result.distances, np.take_along_axis(distances, order, axis=1))
    assert result.keys == [[f"doc-{i}" for i in row] for row in ids[order]]
    assert not result.no_known_terms.any() and result.scores is None


def test_more_neighbours_than_documents_are_padded():
    store = DocumentStore(NBITS)
    store.add(store.new_ids(None, 2), np.zeros((2, NBITS // 8), dtype=np.uint8))
    result = store.search(np.zeros((1, NBITS // 8), dtype=np.uint8), 4)
    assert result.ids.tolist() == [[0, 1, -1, -1]] and result.keys == [["0", "1", None, None]]


def test_rescore_matches_brute_force(docs):
    codes, ids, vectors = docs
    store = _filled(docs)
    rng = np.random.default_rng(5)
    queries, query_vectors = codes[10:14], rng.standard_normal((4, DIM)).astype(np.float32)
    k, n_candidates = 5, 40
    result = store.search(queries, k, query_vectors=query_vectors, n_candidates=store.rescore_candidates(n_candidates, k))
    distances = _hamming(queries, codes)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for q, candidates in enumerate(_nearest(distances, ids, n_candidates)):
        cosines = unit[candidates] @ (query_vectors[q] / np.linalg.norm(query_vectors[q]))
        best = candidates[np.lexsort((ids[candidates], -cosines))[:k]]
        np.testing.assert_array_equal(result.ids[q], ids[best])
        np.testing.assert_allclose(result.scores[q], np.sort(cosines)[::-1][:k], rtol=1e-5)
        np.testing.assert_array_equal(result.distances[q], distances[q, best])


@pytest.mark.parametrize("vector_dtype", ["float32", "int8", None])
def test_save_load_round_trip(docs, tmp_path, vector_dtype):
    store = _filled(docs, vector_dtype)
    entries = store.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(store_files(entries))
    back = DocumentStore.load(tmp_path, entries, NBITS, "flat", DIM)
    assert back.mismatch() is None and back.ntotal == store.ntotal == 300 and back.vector_dtype == vector_dtype
    queries = docs[0][:7]
    a, b = store.search(queries, 9), back.search(queries, 9)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert a.keys == b.keys
    doc_id = int(docs[1][42])
    assert back.key_of(doc_id) == f"doc-{doc_id}" and back.text_of(doc_id) == f"text {doc_id}"
    if vector_dtype is not None:
        np.testing.assert_array_equal(back.vectors.rows, store.vectors.rows)


def test_an_empty_store_saves_no_index(tmp_path):
    entries = DocumentStore(NBITS).save(tmp_path)
    assert entries == ({"file": None, "ntotal": 0, "type": None}, None) and store_files(entries) == ["keys.npz"]
    back = DocumentStore.load(tmp_path, entries, NBITS, "mih", None)
    assert back.index is None and back.ntotal == 0 and back.index_kind == "mih"
    with pytest.raises(RuntimeError, match="the index is empty"):
        back.search(np.zeros((1, NBITS // 8), dtype=np.uint8), 1)


def test_load_refuses_parts_of_other_ids(docs, tmp_path):
    store = _filled(docs)
    entries = store.save(tmp_path)
    ids = docs[1]
    DocumentKeys({int(i) + 1: "x" for i in ids}).save(tmp_path / "keys.npz")
    with pytest.raises(PipelineFormatError, match="300 codes but keys.npz has 300 keys for other ids"):
        DocumentStore.load(tmp_path, entries, NBITS, "flat", DIM)
    store.save(tmp_path)
    stray = np.sort(np.append(ids, 10**7))  # one vector of an id the index does not hold
    StoredVectors("float32", DIM, stray, np.zeros((301, DIM), np.float32)).save(tmp_path / "vectors.npz")
    with pytest.raises(PipelineFormatError, match="vectors.npz holds vectors of other ids"):
        DocumentStore.load(tmp_path, (entries[0], {**entries[1], "count": 301}), NBITS, "flat", DIM)
    store.save(tmp_path)
    with pytest.raises(PipelineFormatError, match="index.nidx.*32-bit codes; the pipeline makes 16-bit"):
        DocumentStore.load(tmp_path, entries, 16, "flat", DIM)
    with pytest.raises(PipelineFormatError, match="vectors.npz.*8-d vectors; the pipeline hashes 9-d"):
        DocumentStore.load(tmp_path, entries, NBITS, "flat", DIM + 1)


def test_an_attached_index_stays_loadable_without_vectors(docs, tmp_path):
    """attach_index drops the vectors: a later add keeps some, and the saved store loads again."""
    codes, ids, vectors = docs
    store = _filled(docs)
    index = ni.FlatIndex(NBITS)
    index.add(codes[:50], ids[:50])
    store.attach(index)
    assert store.ntotal == 50 and len(store.vectors) == 0 and store.key_of(int(ids[0])) == str(ids[0])
    store.add(store.new_ids(None, 2), codes[50:52], vectors=vectors[50:52])
    assert store.mismatch() is None
    back = DocumentStore.load(tmp_path, store.save(tmp_path), NBITS, "flat", DIM)
    assert back.ntotal == 52 and len(back.vectors) == 2
    with pytest.raises(ValueError, match="no stored vector for id"):
        back.search(codes[:1], 1, query_vectors=vectors[:1], n_candidates=back.ntotal)


def test_attach_refuses_other_code_lengths_and_non_indexes():
    store = DocumentStore(NBITS)
    with pytest.raises(ValueError, match="64-bit codes but this pipeline makes 32-bit"):
        store.attach(ni.FlatIndex(64))
    with pytest.raises(TypeError, match="index must be a nash_index index"):
        store.attach(np.zeros((2, 4), np.uint8))


def test_reset_empties_the_store_and_may_change_the_kind(docs):
    store = _filled(docs)
    with pytest.raises(ValueError, match="index must be one of"):
        store.reset("hnsw")
    assert store.ntotal == 300  # a refused reset changes nothing
    store.reset("mih")
    assert (store.ntotal, store.index, store.index_kind, len(store.vectors)) == (0, None, "mih", 0)
    assert store.key_of(int(docs[1][0])) is None and not store.stores_texts
    store.add(store.new_ids(None, 3), docs[0][:3], vectors=docs[2][:3])
    assert type(store.index).__name__ == "MultiIndexHashing" and store.new_ids(None, 1).tolist() == [3]


def test_new_ids_refuses_ids_already_held(docs):
    store = _filled(docs)
    with pytest.raises(ValueError, match="not already in the index"):
        store.new_ids([int(docs[1][0]), 10**7], 2)
    assert store.new_ids(None, 2).tolist() == [int(docs[1].max()) + 1, int(docs[1].max()) + 2]


def test_store_entries_read_vectors_of_dense_pipelines_only():
    manifest = {"index": {"file": "index.nidx"}, "vectors": {"file": "vectors.npz", "dtype": "int8"}}
    assert store_entries(manifest, dense=True) == (manifest["index"], manifest["vectors"])
    assert store_entries(manifest, dense=False) == (manifest["index"], None)
    with pytest.raises(ValueError, match="'vectors' entry must be an object naming a file"):
        store_entries({**manifest, "vectors": {"file": "../x.npz"}}, dense=True)
    with pytest.raises(ValueError, match="'index' entry must be an object"):
        store_entries({"index": []}, dense=False)


def test_auto_kind_follows_the_store_as_it_grows(monkeypatch):
    """index_kind="auto" re-chooses when the store has doubled: batches of unique codes move a
    flat scan to the MIH once past MIH_MIN_CODES, repeated codes to a dedup kind; answers stay
    the brute force's, and an attached index is never moved."""
    monkeypatch.setattr("nash_index.index.factory.MIH_MIN_CODES", 1_000)
    rng = np.random.default_rng(5)
    nbits = 64
    unique = rng.integers(0, 256, (1_600, nbits // 8), dtype=np.uint8)
    store = DocumentStore(nbits, "auto")
    kinds = []
    for start in range(0, 1_600, 400):
        store.add(np.arange(start, start + 400, dtype=np.int64), unique[start:start + 400])
        kinds.append(store.index.kind)
    assert kinds == ["flat", "flat", "flat", "mih"]  # chosen again at 800 (flat) and 1,600 (past 1,000)
    queries = rng.integers(0, 256, (5, nbits // 8), dtype=np.uint8)
    found = store.search(queries, 7)
    dist = _hamming(queries, unique)
    order = _nearest(dist, np.arange(1_600), 7)
    np.testing.assert_array_equal(found.ids, order)
    np.testing.assert_array_equal(found.distances, np.take_along_axis(dist, order, axis=1))

    repeated = np.repeat(unique[:50], 8, axis=0)  # 400 rows, 350 of them copies
    store = DocumentStore(nbits, "auto")
    store.add(np.arange(10), unique[1_000:1_010])
    store.add(np.arange(10, 410), repeated)
    assert store.index.kind == "flat_dedup"
    every = np.concatenate([unique[1_000:1_010], repeated])
    dist = _hamming(queries, every)
    order = _nearest(dist, np.arange(410), 9)
    np.testing.assert_array_equal(store.search(queries, 9).ids, order)

    attached = DocumentStore(nbits, "auto")
    index = ni.FlatIndex(nbits)
    index.add(unique[:10], np.arange(10))
    attached.attach(index)
    attached.add(np.arange(10, 1_600), unique[10:])
    assert attached.index is index
