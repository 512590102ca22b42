"""Featurizer (nash_index.pipeline.featurizer): texts or precomputed vectors -> what the hasher
reads, and the codes an encoder makes of them in batches. Oracle: a random-hyperplane encoder
applied by hand to the whole TF-IDF matrix (or vector table) at once."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from pipeline_checks import EMBED_DIM, word_embedder  # noqa: E402

from nash_index.pipeline import PipelineFormatError  # noqa: E402
from nash_index.pipeline.embedders import resolve_embedder  # noqa: E402
from nash_index.pipeline.featurizer import Featurizer, featurizer_files, is_dense_manifest  # noqa: E402
from nash_index.text import TextVectorizer  # noqa: E402

NBITS = 16
TEXTS = ["parse a date string", "compress data with gzip", "read rows from a csv file", "gzip a csv file",
         "the and of", "", "parse csv rows", "date and time strings"] * 4


class HyperplaneEncoder:
    """``nbits`` signs of random projections, packed: an encoder independent of the hashers."""

    def __init__(self, n_features: int, nbits: int = NBITS, seed: int = 0) -> None:
        self.nbits, self.n_features = nbits, n_features
        self.planes = np.random.default_rng(seed).standard_normal((n_features, nbits))

    def encode(self, X) -> np.ndarray:
        return np.packbits(np.asarray(X @ self.planes) > 0, axis=1)


@pytest.fixture(scope="module")
def tfidf():
    return Featurizer(TextVectorizer().fit(TEXTS), verbose=False)


@pytest.mark.parametrize("batch_size", [1, 5, 4096])
def test_tfidf_codes_and_no_term_mask_match_the_whole_matrix(tfidf, batch_size):
    encoder = HyperplaneEncoder(tfidf.n_features)
    X = tfidf.vectorizer.transform(TEXTS)
    encoded = tfidf.encode(encoder, NBITS, TEXTS, None, batch_size)
    np.testing.assert_array_equal(encoded.codes, encoder.encode(X))
    np.testing.assert_array_equal(encoded.no_known_terms, X.getnnz(axis=1) == 0)
    assert encoded.no_known_terms[TEXTS.index("the and of")] and encoded.no_known_terms[TEXTS.index("")]
    assert encoded.vectors is None and not tfidf.uses_vectors
    assert tfidf.encode(encoder, NBITS, [], None, batch_size).codes.shape == (0, NBITS // 8)


@pytest.mark.parametrize("batch_size", [3, 4096])
def test_dense_codes_are_the_encoders_of_the_embedders_vectors(batch_size):
    dense = Featurizer(TextVectorizer(), resolve_embedder(word_embedder), EMBED_DIM, embed_batch_size=7, verbose=False)
    encoder = HyperplaneEncoder(EMBED_DIM)
    vectors = word_embedder(TEXTS)
    encoded = dense.encode(encoder, NBITS, TEXTS, None, batch_size)
    np.testing.assert_array_equal(encoded.codes, encoder.encode(vectors))
    np.testing.assert_allclose(encoded.vectors, vectors, rtol=1e-6)
    assert not encoded.no_known_terms.any()  # dense vectors have no unknown term
    given = dense.encode(encoder, NBITS, None, vectors[:5], batch_size)
    np.testing.assert_array_equal(given.codes, encoded.codes[:5])
    with pytest.raises(ValueError, match=f"embeddings has 3 columns; expected {EMBED_DIM}"):
        dense.encode(encoder, NBITS, None, np.zeros((2, 3)), batch_size)


def test_fitted_makes_a_new_featurizer_and_leaves_the_old_one():
    empty = Featurizer(TextVectorizer(), resolve_embedder(word_embedder), embed_batch_size=9, verbose=False)
    fitted = empty.fitted(empty.vectorizer, EMBED_DIM)
    assert (empty.embedding_dim, fitted.embedding_dim) == (None, EMBED_DIM)
    assert fitted.embedder is empty.embedder and fitted.embed_batch_size == 9 and fitted.source == "48-d vectors"


def test_tfidf_save_load_round_trip(tfidf, tmp_path):
    manifest = tfidf.save(tmp_path)
    assert list(manifest) == ["vectorizer"] and featurizer_files(manifest) == ["vectorizer.npz"]
    back = Featurizer.load(tmp_path, manifest)
    assert (back.transform(TEXTS) != tfidf.transform(TEXTS)).nnz == 0
    assert back.source == f"a {tfidf.n_features}-term vocabulary" and not back.verbose
    with pytest.raises(ValueError, match="TF-IDF pipeline: it takes no embedder"):
        Featurizer.load(tmp_path, manifest, embedder=word_embedder)
    (tmp_path / "vectorizer.npz").write_bytes(b"damaged")
    with pytest.raises(PipelineFormatError, match="vectorizer.npz"):
        Featurizer.load(tmp_path, manifest)


def test_dense_save_load_round_trip(tmp_path):
    dense = Featurizer(TextVectorizer(), resolve_embedder(word_embedder), EMBED_DIM, embed_batch_size=5)
    manifest = json.loads(json.dumps(dense.save(tmp_path)))
    assert manifest == {"version": 3, "embedder": {"kind": "callable", "name": "callable"},
                        "embedding_dim": EMBED_DIM, "embed_batch_size": 5}
    assert is_dense_manifest(manifest) and featurizer_files(manifest) == [] and not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match="callable embedder"):
        Featurizer.load(tmp_path, manifest)  # a function is not saved: it must be given again
    back = Featurizer.load(tmp_path, manifest, embedder=word_embedder)
    assert (back.embedding_dim, back.embed_batch_size, back.uses_vectors) == (EMBED_DIM, 5, True)
    np.testing.assert_array_equal(back.transform(TEXTS[:3]), word_embedder(TEXTS[:3]))


@pytest.mark.parametrize("edit, fragment", [
    ({"embedding_dim": 0}, "invalid embedding_dim 0"),
    ({"embed_batch_size": "64"}, "embed_batch_size '64'"),
    ({"embedder": {"kind": "bert", "name": "x"}}, "invalid embedder entry"),
    ({"embedder": "minilm"}, "'embedder' entry must be an object"),
])
def test_featurizer_files_check_the_dense_entries(edit, fragment):
    manifest = {"embedder": {"kind": "minilm", "name": "minilm"}, "embedding_dim": 384, **edit}
    with pytest.raises(ValueError, match=fragment):
        featurizer_files(manifest)
