"""The hasher registry (nash_index.text.registry): names, specs, and every registered hasher
trained, saved and loaded on tiny dense and sparse input, its codes checked against the hasher
itself (the torch model for a neural one, a freshly fitted class for a baseline)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.baselines import BASELINES
from nash_index.text import (
    AUTO_HASHER,
    DEFAULT_HASHER,
    HASHERS,
    TrainedHasher,
    canonical_hasher,
    display_name,
    fit_hasher,
    hasher_files,
    hasher_names,
    hasher_spec,
    model_spec,
    training_spec,
)

#: Hand-written: every hasher, its display name and whether torch trains it.
EXPECTED = {"nash": ("NASH", True), "vdsh": ("VDSH", True), "lsh": ("LSH", False), "sph": ("SpH", False),
            "sth": ("STH", False), "itq": ("PCA-ITQ", False)}
#: Neural hashers: a few quick epochs of a small network.
QUICK = {"epochs": 2, "hidden": (16,), "batch_size": 16, "num_threads": 1}


def test_names_display_names_and_kinds():
    assert hasher_names() == list(EXPECTED)
    assert {name: (display_name(name), hasher_spec(name).neural) for name in hasher_names()} == EXPECTED
    assert hasher_names(neural=True) == ["nash", "vdsh"] and hasher_names(neural=False) == ["lsh", "sph", "sth", "itq"]
    assert display_name("foo") == "FOO" and DEFAULT_HASHER == "nash"


@pytest.mark.parametrize("typed, name", [(" VDSH ", "vdsh"), ("spectral", "sph"), ("Pca-Itq", "itq"), ("pcaitq", "itq"),
                                         ("NASH", "nash"), ("auto", "auto")])
def test_aliases(typed, name):
    assert canonical_hasher(typed) == name


def test_every_alias_names_one_hasher():
    spellings = [alias for name in hasher_names() for alias in (name, *hasher_spec(name).aliases)]
    assert len(spellings) == len(set(spellings)) == len(HASHERS) and AUTO_HASHER not in HASHERS


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="unknown hasher 'bert'") as err:
        hasher_spec("bert")
    assert all(repr(name) in str(err.value) for name in [*EXPECTED, AUTO_HASHER])


def test_auto_is_not_a_hasher_but_trains_with_its_neural_candidate():
    with pytest.raises(ValueError, match="choice between hashers"):
        hasher_spec("auto")
    assert training_spec("auto") is hasher_spec("nash") and training_spec("ITQ") is hasher_spec("itq")


def test_baselines_are_keyed_like_the_registry():
    assert set(BASELINES) == set(hasher_names(neural=False))
    assert all(hasher_spec(name).hasher_class() is BASELINES[name] for name in BASELINES)


def test_model_spec_by_class_name():
    assert model_spec("VDSH").name == "vdsh" and model_spec("NASH").name == "nash"
    with pytest.raises(ValueError, match=r"a PCAITQ model is not one of .*'NASH', 'VDSH'"):
        model_spec("PCAITQ")


def _inputs(kind: str):
    rng = np.random.default_rng(3)
    X = (rng.random((90, 40)) < 0.2) * rng.random((90, 40))
    return sp.csr_matrix(X, dtype=np.float32) if kind == "sparse" else X.astype(np.float32)


def _trained(name: str, X):
    if hasher_spec(name).neural:
        pytest.importorskip("torch")
        params = {k: v for k, v in QUICK.items() if k in hasher_spec(name).param_names()}
        with pytest.warns(UserWarning, match="without validation data"):
            return TrainedHasher.train(name, 16, params, 0, False, X)
    return TrainedHasher.train(name, 16, None, 0, False, X)


@pytest.mark.parametrize("form", ["dense", "sparse"])
@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_hasher_trains_saves_and_loads(tmp_path, name, form):
    X = _inputs(form)
    trained = _trained(name, X)
    spec = hasher_spec(name)
    reference = trained.model.encode(X) if spec.neural else BASELINES[name](16, random_state=0).fit(X).encode(X)
    assert reference.shape == (90, 2) and reference.dtype == np.uint8
    np.testing.assert_array_equal(trained.encoder.encode(X), reference)
    entry = trained.save(tmp_path)
    assert entry["kind"] == name and "nash_index" not in json.dumps(entry)  # names, never module paths
    assert all((tmp_path / member).is_file() for member in hasher_files(entry))
    back = TrainedHasher.load(json.loads(json.dumps(entry)), tmp_path)
    assert back.kind == name and (back.model is None) == spec.neural  # a neural one loads torch-free
    np.testing.assert_array_equal(back.encoder.encode(X), reference)
    if spec.neural:
        with_torch = TrainedHasher.load(entry, tmp_path, use_torch=True)
        assert type(with_torch.model) is spec.hasher_class()
        np.testing.assert_array_equal(with_torch.model.encode(X), reference)


def test_files_of_each_kind(tmp_path):
    assert hasher_files({"kind": "itq", "arrays": "hasher.npz"}) == ["hasher.npz"]
    assert hasher_files({"kind": "vdsh", "encoder": "encoder.npz", "model": "model"}) == \
        ["encoder.npz", "model/config.json", "model/weights.pt"]
    assert hasher_files({"kind": "nash", "encoder": "encoder.npz", "model": None}) == ["encoder.npz"]
    with pytest.raises(ValueError, match="unknown hasher kind 'NASH'"):  # a manifest stores canonical names
        hasher_files({"kind": "NASH", "encoder": "encoder.npz"})
    with pytest.raises(ValueError, match="invalid model directory name 3"):
        hasher_files({"kind": "nash", "encoder": "encoder.npz", "model": 3})


def test_fit_uses_validation_only_where_the_spec_says(tmp_path):
    X, X_val = _inputs("sparse"), _inputs("dense")[:30]
    lsh = fit_hasher(hasher_spec("lsh").make(16, None, 0, False), X, np.zeros(90), X_val)  # extras ignored
    np.testing.assert_array_equal(lsh.encode(X), BASELINES["lsh"](16, random_state=0).fit(X).encode(X))
    pytest.importorskip("torch")
    vdsh = fit_hasher(hasher_spec("vdsh").make(16, QUICK, 0, False), X, None, sp.csr_matrix(X_val))
    assert all("val_loss" in record for record in vdsh.history_)  # validation rows were used


def test_unregistered_object_is_refused():
    with pytest.raises(TypeError, match="dict is not a registered hasher"):
        fit_hasher({}, np.zeros((3, 3)))


def test_missing_extra_is_named(tmp_path):
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # as if the train extra were not installed
        from nash_index.text import make_hasher
        try:
            make_hasher("vdsh", 16)
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hasher 'vdsh' needs torch, which is not installed: pip install nash_index[train]"
