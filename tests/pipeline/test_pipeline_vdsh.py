"""VDSH as a pipeline hasher (registered by one line of nash_index.text.registry): it trains with
labels and validation rows, encodes, searches, saves, loads torch-free with identical codes, and
loads its torch model back."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("torch")

from pipeline_checks import QUERIES, assert_same_results, corpus  # noqa: E402, F401 (fixtures)

from nash_index.models import VDSH  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

PARAMS = {"epochs": 3, "hidden": (64,), "batch_size": 32}


@pytest.fixture(scope="module")
def vdsh_pipe(corpus):
    pipe = HashingPipeline(nbits=16, hasher="VDSH", hasher_params=PARAMS, verbose=False, num_threads=1)
    pipe.fit(corpus.train_texts, corpus.train_labels, val_texts=corpus.test_texts, val_labels=corpus.test_labels)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    return pipe


def test_vdsh_trains_with_validation_and_searches(vdsh_pipe, corpus):
    assert vdsh_pipe.hasher_kind == "vdsh" and isinstance(vdsh_pipe.hasher, VDSH)
    info = vdsh_pipe.train_info
    assert info["hasher"] == "vdsh" and info["n_val"] == len(corpus.test_texts)
    assert info["criterion"] == "score" and vdsh_pipe.hasher.num_threads == 1  # validation precision chose the epoch
    # the served codes (numpy export) are the torch model's own
    X = vdsh_pipe.transform(corpus.train_texts)
    codes = vdsh_pipe.encode(corpus.train_texts)
    np.testing.assert_array_equal(codes, vdsh_pipe.hasher.encode(X))
    hit = vdsh_pipe.search([corpus.train_texts[7]], k=1)
    assert hit.distances[0, 0] == 0 and np.array_equal(codes[hit.ids[0, 0]], codes[7])


def test_vdsh_pipeline_round_trip_torch_free(tmp_path, vdsh_pipe, corpus):
    vdsh_pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["hasher_kind"] == "vdsh"
    assert manifest["hasher"] == {"kind": "vdsh", "encoder": "encoder.npz", "model": "model"}
    assert {"encoder.npz", "model/config.json", "model/weights.pt"} <= set(manifest["files"])
    back = HashingPipeline.load(tmp_path / "p")
    assert back.hasher is None and back.hasher_kind == "vdsh"
    np.testing.assert_array_equal(back.encode(corpus.test_texts), vdsh_pipe.encode(corpus.test_texts))
    assert_same_results(vdsh_pipe, back)
    again = HashingPipeline.load(tmp_path / "p", use_torch=True)
    assert isinstance(again.hasher, VDSH)
    np.testing.assert_array_equal(again.hasher.encode(again.transform(QUERIES)), vdsh_pipe.encode(QUERIES))


def test_vdsh_pipeline_loads_without_torch_installed(tmp_path, vdsh_pipe):
    vdsh_pipe.save(tmp_path / "p")
    script = textwrap.dedent(f"""
        import importlib.abc, json, sys

        class NoTorch(importlib.abc.MetaPathFinder):  # as if torch were not installed
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "torch":
                    raise ModuleNotFoundError("No module named torch", name="torch")

        sys.meta_path.insert(0, NoTorch())
        from nash_index.pipeline import HashingPipeline
        print(json.dumps(HashingPipeline.load({str(tmp_path / 'p')!r}).encode({QUERIES!r}).tolist()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == vdsh_pipe.encode(QUERIES).tolist()


def test_vdsh_hashes_dense_vectors(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 24)).astype(np.float32)
    with pytest.warns(UserWarning, match="all 3 epochs of VDSH will run"):  # 120 rows: nothing held out
        pipe = HashingPipeline(nbits=8, hasher="vdsh", hasher_params=PARAMS, verbose=False).fit(None, embeddings=X)
    pipe.add(None, embeddings=X)
    pipe.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    np.testing.assert_array_equal(back.encode(None, embeddings=X), pipe.hasher.encode(X))
    assert pipe.hasher.decoder_ == "gaussian"  # dense input: the Gaussian decoder


def test_a_saved_vdsh_model_composes_a_pipeline(tmp_path, vdsh_pipe, corpus):
    vdsh_pipe.hasher.save(tmp_path / "m")  # VDSH.save: weights and config, no vocabulary
    vdsh_pipe.vectorizer.save(tmp_path / "m" / "vectorizer.npz")
    pipe = HashingPipeline.from_model(tmp_path / "m")
    assert pipe.hasher_kind == "vdsh" and isinstance(pipe.hasher, VDSH)
    np.testing.assert_array_equal(pipe.encode(corpus.test_texts), vdsh_pipe.encode(corpus.test_texts))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "class": "PCAITQ"}))
    with pytest.raises(ValueError, match="cannot build an index: a PCAITQ model is not one of"):
        HashingPipeline.from_model(tmp_path / "m")
