"""Classic hashing baselines: interface, determinism, and retrieval quality on a planted-topic corpus."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from nash_index.baselines import BASELINES, LSH, PCAITQ, STH, SpectralHashing
from nash_index.evaluation import precision_at_k

N_TOPICS = 6


def planted_topics(n_docs: int, seed: int, n_terms: int = 400, doc_len: int = 40):
    """TF-IDF of documents drawn from one of N_TOPICS topics, each owning 40 terms.

    70% of a document's tokens come from its topic's terms, 30% from all terms uniformly.
    Returns (CSR TF-IDF, integer topic labels).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_TOPICS, n_docs)
    owned = np.arange(N_TOPICS * 40).reshape(N_TOPICS, 40)
    rows, cols = [], []
    for i, t in enumerate(labels):
        n_topic = rng.binomial(doc_len, 0.7)
        words = np.concatenate([rng.choice(owned[t], n_topic), rng.integers(0, n_terms, doc_len - n_topic)])
        rows.extend([i] * doc_len)
        cols.extend(words)
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_docs, n_terms))
    return counts, labels


@pytest.fixture(scope="module")
def corpus():
    counts_train, y_train = planted_topics(600, seed=1)
    counts_test, y_test = planted_topics(120, seed=2)
    tfidf = TfidfTransformer().fit(counts_train)
    return (sp.csr_matrix(tfidf.transform(counts_train), dtype=np.float32), y_train,
            sp.csr_matrix(tfidf.transform(counts_test), dtype=np.float32), y_test)


def random_codes(n: int, nbits: int, seed: int) -> np.ndarray:
    return np.packbits(np.random.default_rng(seed).random((n, nbits)) < 0.5, axis=1)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_shapes_dtype_and_determinism(name, corpus):
    X_train, _, X_test, _ = corpus
    cls = BASELINES[name]
    a = cls(nbits=16, random_state=3).fit(X_train)
    codes = a.encode(X_test)
    assert codes.dtype == np.uint8 and codes.shape == (X_test.shape[0], 2) and codes.flags.c_contiguous
    b = cls(nbits=16, random_state=3).fit(X_train)
    np.testing.assert_array_equal(codes, b.encode(X_test))
    # one document alone gets the same code as inside a batch
    np.testing.assert_array_equal(a.encode(X_test[5:6]), codes[5:6])


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_beats_random_codes_on_planted_topics(name, corpus):
    X_train, y_train, X_test, y_test = corpus
    model = BASELINES[name](nbits=32, random_state=0).fit(X_train)
    p = precision_at_k(model.encode(X_train), y_train, model.encode(X_test), y_test, k=20)
    p_rand = precision_at_k(random_codes(600, 32, 0), y_train, random_codes(120, 32, 1), y_test, k=20)
    assert p_rand.expected < 1 / N_TOPICS + 0.08          # chance level
    assert p.expected > p_rand.expected + 0.3, (name, p, p_rand)


def test_lsh_seed_changes_hyperplanes_and_dense_equals_sparse(corpus):
    X_train, _, X_test, _ = corpus
    c0 = LSH(32, random_state=0).fit(X_train).encode(X_test)
    c1 = LSH(32, random_state=1).fit(X_train).encode(X_test)
    assert not np.array_equal(c0, c1)
    dense = LSH(32, random_state=0).fit(X_train.toarray()).encode(X_test.toarray())
    np.testing.assert_array_equal(c0, dense)


def test_lsh_bits_are_signs_of_random_projections(corpus):
    X_train, _, X_test, _ = corpus
    m = LSH(16, random_state=5).fit(X_train)
    expected = np.packbits(X_test.toarray() @ m.planes_ > 0, axis=1)
    np.testing.assert_array_equal(m.encode(X_test), expected)


def test_itq_rotation_is_orthogonal_and_bits_balanced(corpus):
    X_train, _, _, _ = corpus
    m = PCAITQ(16, random_state=0).fit(X_train)
    np.testing.assert_allclose(m.rotation_ @ m.rotation_.T, np.eye(16), atol=1e-8)
    bits = np.unpackbits(m.encode(X_train), axis=1)
    # centred PCA + rotation: no bit is (nearly) constant
    assert bits.mean(axis=0).min() > 0.05 and bits.mean(axis=0).max() < 0.95


def test_itq_lowers_quantization_loss_vs_no_rotation(corpus):
    X_train, _, _, _ = corpus
    m = PCAITQ(16, random_state=0, n_iter=50).fit(X_train)
    V = m.pca_.transform(X_train)

    def loss(R):
        Z = V @ R
        return np.linalg.norm(np.where(Z >= 0, 1.0, -1.0) - Z)

    assert loss(m.rotation_) < loss(np.eye(16))


def test_sph_picks_smallest_eigenvalues(corpus):
    X_train, _, _, _ = corpus
    m = SpectralHashing(16, random_state=0).fit(X_train)
    chosen = (m.modes_ / m.width_[m.dims_]) ** 2
    # any unchosen (dim, mode) pair has an eigenvalue at least the largest chosen one
    for d, w in enumerate(m.width_):
        for k in range(1, 20):
            if not np.any((m.dims_ == d) & (m.modes_ == k)):
                assert (k / w) ** 2 >= chosen.max() - 1e-12


def test_sth_svms_reproduce_most_training_bits(corpus):
    X_train, _, _, _ = corpus
    m = STH(16, random_state=0, n_neighbors=10).fit(X_train)
    svm_bits = np.unpackbits(m.encode(X_train), axis=1).astype(bool)
    assert (svm_bits == m.train_bits_).mean() > 0.9
    # median threshold: every stage-1 bit splits the training set roughly in half
    assert np.all(np.abs(m.train_bits_.mean(axis=0) - 0.5) < 0.05)


def test_bad_arguments(corpus):
    X_train, _, X_test, _ = corpus
    with pytest.raises(ValueError, match="multiple of 8"):
        LSH(12)
    with pytest.raises(TypeError, match="nbits"):
        LSH(16.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        LSH(16).encode(X_test)
    with pytest.raises(ValueError, match="features"):
        LSH(16).fit(X_train).encode(X_test[:, :10])
    with pytest.raises(ValueError, match="principal components"):
        PCAITQ(64).fit(X_train[:20])
    with pytest.raises(TypeError, match="numeric"):
        LSH(8).fit(np.array([["a", "b"]]))
