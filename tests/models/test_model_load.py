"""Loading saved models that are damaged (#12): ``NASH.load`` / ``VDSH.load`` with a malformed
``config.json`` or ``weights.pt`` and ``NumpyEncoder.load`` with wrong shapes raise ValueError naming
the file and the entry, never KeyError or a later failure inside ``encode``."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from planted import FAST, one_torch_thread, planted_corpus  # noqa: E402, F401 (fixture)

from nash_index.models import NASH, VDSH, NumpyEncoder  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, _ = planted_corpus(120, seed=3, vocab=60)
    root = tmp_path_factory.mktemp("models")
    model = NASH(nbits=16, **{**FAST, "epochs": 1, "hidden": (8,)}).fit(X)
    model.save(root / "nash")
    model.export_numpy_encoder().save(root / "encoder.npz")
    VDSH(nbits=8, **{**FAST, "epochs": 1, "hidden": (8,)}).fit(X).save(root / "vdsh")
    return root, X


def _edit_config(path, edit):
    config = json.loads((path / "config.json").read_text())
    edit(config)
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("edit, fragment", [
    (lambda c: c["fitted"].pop("thresholds"), "'fitted.thresholds' is missing"),
    (lambda c: c["fitted"].update(thresholds=[0.0] * 15), "'fitted.thresholds' must be 16"),
    (lambda c: c["fitted"].update(thresholds=["x"] * 16), "fitted.thresholds"),
    (lambda c: c["fitted"].update(n_features="60"), "'fitted.n_features' has the wrong type"),
    (lambda c: c["fitted"].update(n_features=59), "weights.pt"),  # the weights have 60 inputs
    (lambda c: c["fitted"].update(decoder="magic"), "fitted.decoder"),
    (lambda c: c["fitted"].update(multilabel="no"), "'fitted.multilabel'"),
    (lambda c: c.pop("fitted"), "'fitted' must be an object"),
    (lambda c: c.update(params=[]), "'params' must be an object"),
    (lambda c: c["params"].update(nbits=12), "invalid 'params'.*nbits"),
    (lambda c: c["params"].update(bogus=1), "invalid 'params'.*bogus"),
    (lambda c: c["params"].update(variant="nash-x"), "invalid 'params'.*variant"),
    (lambda c: c.pop("class"), "holds a None"),
])
def test_malformed_config_names_file_and_key(saved, tmp_path, edit, fragment):
    root, _ = saved
    shutil.copytree(root / "nash", tmp_path / "m")
    _edit_config(tmp_path / "m", edit)
    with pytest.raises(ValueError, match=fragment) as err:
        NASH.load(tmp_path / "m", device="cpu")
    assert "config.json" in str(err.value) or "weights.pt" in str(err.value) or "holds a" in str(err.value)


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "null", "\xff\xfe"])
def test_config_not_a_json_object(saved, tmp_path, content):
    root, _ = saved
    shutil.copytree(root / "nash", tmp_path / "m")
    (tmp_path / "m" / "config.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match="config.json"):
        NASH.load(tmp_path / "m", device="cpu")


@pytest.mark.parametrize("damage", [b"", b"garbage" * 10, "half"])
def test_damaged_weights_name_the_file(saved, tmp_path, damage):
    root, _ = saved
    shutil.copytree(root / "nash", tmp_path / "m")
    weights = tmp_path / "m" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2] if damage == "half" else damage)
    with pytest.raises(ValueError, match="weights.pt"):
        NASH.load(tmp_path / "m", device="cpu")


def test_vdsh_thresholds_of_wrong_length(saved, tmp_path):
    """VDSH's thresholds are the database medians: the wrong number used to load and fail in encode."""
    root, X = saved
    shutil.copytree(root / "vdsh", tmp_path / "m")
    _edit_config(tmp_path / "m", lambda c: c["fitted"].update(thresholds=[0.0] * 9))
    with pytest.raises(ValueError, match="config.json.*'fitted.thresholds' must be 8"):
        VDSH.load(tmp_path / "m", device="cpu")
    assert VDSH.load(root / "vdsh", device="cpu").encode(X).shape == (X.shape[0], 1)


def _rewrite(src, dst, **changes):
    with np.load(src) as z:
        arrays = {name: z[name] for name in z.files}
    arrays.update(changes)
    for name in [k for k, v in changes.items() if v is None]:
        del arrays[name]
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("changes, fragment", [
    ({"thresholds": np.zeros(15, np.float32)}, "thresholds must be 16"),
    ({"thresholds": None}, "thresholds"),
    ({"head_W": np.zeros((7, 16), np.float32)}, "head.*do not chain"),
    ({"b0": np.zeros(9, np.float32)}, "layer 0.*do not chain"),
    ({"W0": np.full((60, 8), np.inf, np.float32)}, "finite"),
    ({"n_layers": np.array(10**9)}, "n_layers"),
    ({"n_layers": np.array(2)}, "W1"),
])
def test_numpy_encoder_shapes_checked_at_load(saved, tmp_path, changes, fragment):
    root, _ = saved
    _rewrite(root / "encoder.npz", tmp_path / "e.npz", **changes)
    with pytest.raises(ValueError, match=f"e.npz.*{fragment}"):
        NumpyEncoder.load(tmp_path / "e.npz")


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 truncated", b"\x93NUMPY garbage"])
def test_numpy_encoder_unreadable_file(tmp_path, data):
    (tmp_path / "e.npz").write_bytes(data)
    with pytest.raises(ValueError, match="e.npz"):
        NumpyEncoder.load(tmp_path / "e.npz")
