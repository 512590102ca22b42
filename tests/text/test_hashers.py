"""The hasher registry (nash_index.text.hashers): names, creation, training, save / load."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.baselines import LSH, PCAITQ, SpectralHashing
from nash_index.text import HASHERS, TrainedHasher, canonical_hasher, encoder_of, fit_hasher, make_hasher


def test_canonical_names():
    assert canonical_hasher(" NASH ") == "nash" and canonical_hasher("PCA-ITQ") == "itq"
    assert canonical_hasher("spectral") == "sph"
    assert set(HASHERS.values()) == {"nash", "vdsh", "lsh", "sph", "sth", "itq"}
    with pytest.raises(ValueError, match="unknown hasher 'magic'"):
        canonical_hasher("magic")


def test_make_and_fit_baselines():
    X = sp.random(80, 50, density=0.2, format="csr", random_state=0, dtype=np.float32)
    assert isinstance(make_hasher("lsh", 16), LSH) and isinstance(make_hasher("itq", 16), PCAITQ)
    assert isinstance(make_hasher("spectral", 16), SpectralHashing)
    h = fit_hasher(make_hasher("lsh", 16, seed=4), X)
    assert encoder_of(h) is h  # a baseline encodes itself
    np.testing.assert_array_equal(h.encode(X), LSH(16, random_state=4).fit(X).encode(X))


def test_trained_hasher_save_load_round_trip(tmp_path):
    X = sp.random(80, 50, density=0.2, format="csr", random_state=1, dtype=np.float32)
    trained = TrainedHasher.train("PCA-ITQ", 16, None, 0, False, X)
    assert trained.kind == "itq" and trained.encoder is trained.model
    entry = trained.save(tmp_path)
    back = TrainedHasher.load(entry, tmp_path)
    assert back.kind == "itq"
    np.testing.assert_array_equal(back.encoder.encode(X), trained.encoder.encode(X))
