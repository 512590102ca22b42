"""NASH's ``input_norm`` (``models/row_norm.py``): the encoder sees unit rows where the caller's bag of
words is not normalised, so a row's scale no longer moves its code; already-normalised input and
dense embeddings are left as they were."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from planted import FAST, one_torch_thread, planted_corpus  # noqa: E402, F401 (fixture)

from nash_index.models import NASH  # noqa: E402
from nash_index.models.batching import l2_normalised, to_batch  # noqa: E402
from nash_index.models.numpy_encoder import NumpyEncoder  # noqa: E402
from nash_index.models.row_norm import encoder_rows, l2_rows, resolve_input_norm, row_norms  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:NASH.fit without validation data")
QUIET = dict(FAST, epochs=3, neighbours=0)


def _unit(X):
    """Rows divided by their norms in float64: the oracle for ``l2_rows``."""
    dense = X.toarray().astype(np.float64) if sp.issparse(X) else np.asarray(X, np.float64)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)


def test_l2_rows_matches_the_oracle_and_keeps_zero_rows():
    X, _ = planted_corpus(40, seed=1)
    X = sp.vstack([X, sp.csr_matrix((1, X.shape[1]), dtype=np.float32)]).tocsr()  # an empty document
    for given in (X, X.toarray()):
        out = l2_rows(given)
        assert sp.issparse(out) == sp.issparse(given) and out.dtype == np.float32
        dense = out.toarray() if sp.issparse(out) else out
        np.testing.assert_allclose(dense, _unit(X), rtol=1e-6, atol=1e-7)
        assert not dense[-1].any()
    np.testing.assert_allclose(row_norms(X)[:3], np.linalg.norm(X[:3].toarray(), axis=1), rtol=1e-6)


def test_the_torch_batch_is_normalised_like_l2_rows():
    X, _ = planted_corpus(30, seed=2)
    sparse = l2_normalised(to_batch(X))
    rebuilt = sp.csr_matrix((sparse.values.numpy(), sparse.cols.numpy(), X.indptr), shape=X.shape)
    np.testing.assert_allclose(rebuilt.toarray(), _unit(X), rtol=1e-6, atol=1e-7)
    dense = l2_normalised(to_batch(X.toarray())).numpy()
    np.testing.assert_allclose(dense, _unit(X), rtol=1e-6, atol=1e-7)


def test_auto_normalises_only_a_bag_of_words_that_is_not_unit_length():
    X, _ = planted_corpus(50, seed=3)  # log counts: rows far from unit length
    unit = l2_rows(X)
    assert resolve_input_norm("auto", "softmax", X) == "l2"
    assert resolve_input_norm("auto", "softmax", unit) == "none"
    assert resolve_input_norm("auto", "gaussian", X.toarray()) == "none"  # embeddings: the scale is the target
    assert resolve_input_norm("none", "softmax", X) == "none"
    assert resolve_input_norm("l2", "gaussian", X.toarray()) == "l2"
    assert encoder_rows(unit, {}) is unit
    assert encoder_rows(X, {"input_norm": "none"}) is X
    np.testing.assert_allclose(encoder_rows(X, {}).toarray(), _unit(X), rtol=1e-6, atol=1e-7)


def test_a_rescaled_row_keeps_its_code(one_torch_thread):
    X, _ = planted_corpus(200, seed=4)
    model = NASH(nbits=16, **QUIET).fit(X)
    assert model.input_norm_ == "l2"
    scale = sp.diags(np.random.default_rng(5).uniform(0.1, 50.0, X.shape[0]).astype(np.float32))
    np.testing.assert_array_equal(model.encode(sp.csr_matrix(scale @ X)), model.encode(X))
    raw = NASH(nbits=16, input_norm="none", **QUIET).fit(X)
    assert raw.input_norm_ == "none"
    assert not np.array_equal(raw.encode(sp.csr_matrix(scale @ X)), raw.encode(X))  # the old behaviour


def test_unit_rows_train_exactly_as_without_the_option(one_torch_thread):
    X = l2_rows(planted_corpus(150, seed=6)[0])
    auto = NASH(nbits=16, **QUIET).fit(X)
    none = NASH(nbits=16, input_norm="none", **QUIET).fit(X)
    assert auto.input_norm_ == "none"
    np.testing.assert_array_equal(auto.encode(X), none.encode(X))


def test_save_load_and_numpy_export_keep_the_normalisation(tmp_path, one_torch_thread):
    X, _ = planted_corpus(150, seed=7)
    model = NASH(nbits=16, **QUIET).fit(X)
    codes = model.encode(X)
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["fitted"]["input_norm"] == "l2"
    np.testing.assert_array_equal(NASH.load(tmp_path / "m", device="cpu").encode(X), codes)
    exported = model.export_numpy_encoder()
    assert exported.input_norm == "l2"
    np.testing.assert_array_equal(exported.encode(X), codes)
    exported.save(tmp_path / "e.npz")
    np.testing.assert_array_equal(NumpyEncoder.load(tmp_path / "e.npz").encode(X), codes)


def test_files_from_before_the_option_load_unnormalised(tmp_path, one_torch_thread):
    X, _ = planted_corpus(120, seed=8)
    model = NASH(nbits=16, input_norm="none", **QUIET).fit(X)
    model.save(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    del config["fitted"]["input_norm"], config["params"]["input_norm"]
    config_path.write_text(json.dumps(config))
    loaded = NASH.load(tmp_path / "m", device="cpu")
    assert loaded.input_norm_ == "none"
    np.testing.assert_array_equal(loaded.encode(X), model.encode(X))
    config["fitted"]["input_norm"] = "max"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="fitted.input_norm"):
        NASH.load(tmp_path / "m", device="cpu")


def test_bad_input_norm_is_refused(tmp_path):
    X, _ = planted_corpus(40, seed=9)
    with pytest.raises(ValueError, match="input_norm"):
        NASH(nbits=16, input_norm="max", **QUIET).fit(X)
    W, b = np.zeros((X.shape[1], 8), np.float32), np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="input_norm"):
        NumpyEncoder([(W, b)], (np.zeros((8, 16), np.float32), np.zeros(16, np.float32)), np.zeros(16), "max")
    encoder = NumpyEncoder([(W, b)], (np.zeros((8, 16), np.float32), np.zeros(16, np.float32)), np.zeros(16))
    encoder.save(tmp_path / "e.npz")
    with np.load(tmp_path / "e.npz") as z:
        arrays = {name: z[name] for name in z.files}
    arrays["l2_rows"] = np.array([1, 2])
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="l2_rows"):
        NumpyEncoder.load(tmp_path / "bad.npz")
