"""``HashingPipeline(hasher="auto")`` (issue #16): held-out validation as for NASH, NASH's
parameters and threads to the NASH candidate, the choice in ``train_info``, and a saved pipeline
that loads back (torch-free when PCA-ITQ was kept) and encodes identically."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from pipeline_checks import corpus  # noqa: E402, F401 (fixture)

from nash_index.baselines import PCAITQ  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402
from nash_index.text import auto_select  # noqa: E402

PARAMS = {"epochs": 2, "hidden": (16,), "batch_size": 64}


def brute_precision(db_codes, db_labels, q_codes, q_labels, k=100) -> float:
    """Independent precision@k: numpy Hamming distances, ties by row, a hit shares the class."""
    db_bits, q_bits = np.unpackbits(db_codes, axis=1), np.unpackbits(q_codes, axis=1)
    dist = (q_bits[:, None, :] != db_bits[None, :, :]).sum(axis=2)
    k = min(k, db_codes.shape[0])
    top = np.argsort(dist, axis=1, kind="stable")[:, :k]
    db_labels, q_labels = np.asarray(db_labels), np.asarray(q_labels)
    return float((db_labels[top] == q_labels[:, None]).sum() / (k * len(q_labels)))


def fixed_scores(nash: float, itq: float):
    """A stand-in for validation_precision: a fixed score per candidate (decides the winner)."""
    return lambda encoder, *args, **kw: itq if isinstance(encoder, PCAITQ) else nash


def split(corpus, n_val=60):
    texts, labels = corpus.train_texts, np.asarray(corpus.train_labels).argmax(axis=1)
    return texts[n_val:], labels[n_val:], texts[:n_val], labels[:n_val]


def test_auto_end_to_end_keeps_the_better_of_two(corpus, capsys, monkeypatch):
    pytest.importorskip("torch")
    from nash_index.text import TrainedHasher

    made, original = {}, TrainedHasher.train
    monkeypatch.setattr(TrainedHasher, "train", classmethod(
        lambda cls, kind, *args: made.setdefault(kind, original(kind, *args))))  # records both candidates
    texts, labels, val_texts, val_labels = split(corpus)
    pipe = HashingPipeline(nbits=16, hasher="auto", hasher_params=PARAMS, verbose=True, num_threads=1)
    pipe.fit(texts, labels, val_texts, val_labels)
    info, record = pipe.train_info, pipe.train_info["auto"]
    assert pipe.hasher_kind == "auto" and "hasher='auto'" in repr(pipe)
    assert info["hasher"] == record["kept"] == pipe.trained.kind and (info["n_train"], info["n_val"]) == (len(texts), 60)
    assert pipe.trained is made[record["kept"]]
    assert made["nash"].model.num_threads == 1 and made["nash"].model.epochs == 2  # the candidate got them
    # the recorded scores, recomputed here for both candidates
    X, X_val = pipe.vectorizer.transform(texts), pipe.vectorizer.transform(val_texts)
    for kind, trained in made.items():
        enc = trained.encoder
        assert record["scores"][kind] == pytest.approx(
            brute_precision(enc.encode(X), labels, enc.encode(X_val), val_labels), abs=1e-12)
    np.testing.assert_array_equal(made["itq"].encoder.encode(X), PCAITQ(16, random_state=0).fit(X).encode(X))
    best = max(record["scores"].values())
    assert record["kept"] == ("nash" if record["scores"]["nash"] == best else "itq")
    assert auto_select.auto_summary(record) in capsys.readouterr().err  # verbose says it


def test_validation_is_held_out_as_for_nash(corpus, monkeypatch):
    seen = {}

    def fake_select(X, y, X_val, y_val, nbits, params, seed, verbose):
        seen.update(n=X.shape[0], n_val=X_val.shape[0], y=y, y_val=y_val, params=params)
        from nash_index.text import TrainedHasher

        return TrainedHasher.train("itq", nbits, None, seed, verbose, X), {"kept": "itq", "scores": {}, "reason": "-"}

    from nash_index.pipeline import training

    monkeypatch.setattr(training, "select_hasher", fake_select)
    labels = np.asarray(corpus.train_labels).argmax(axis=1)
    pipe = HashingPipeline(nbits=16, hasher="auto", hasher_params=PARAMS, validation_fraction=0.25, verbose=False,
                           num_threads=2)
    pipe.fit(corpus.train_texts, labels)
    n = len(corpus.train_texts)
    assert seen["n_val"] == round(n * 0.25) and seen["n"] == n - seen["n_val"]
    assert seen["y"].shape == (seen["n"],) and seen["y_val"].shape == (seen["n_val"],)
    assert seen["params"] == {**PARAMS, "num_threads": 2} and pipe.hasher_params == PARAMS


@pytest.mark.parametrize("kept", ["itq", "nash"])
def test_save_load_round_trip(corpus, tmp_path, monkeypatch, kept):
    pytest.importorskip("torch")  # both candidates train
    monkeypatch.setattr(auto_select, "validation_precision", fixed_scores(0.9 if kept == "nash" else 0.1, 0.5))
    texts, labels, val_texts, val_labels = split(corpus)
    pipe = HashingPipeline(nbits=16, hasher="auto", hasher_params=PARAMS, verbose=False)
    pipe.fit(texts, labels, val_texts, val_labels)
    assert pipe.trained.kind == pipe.train_info["hasher"] == kept
    assert pipe.train_info["auto"]["scores"] == {"nash": 0.9 if kept == "nash" else 0.1, "itq": 0.5}
    pipe.add(texts[:100])
    pipe.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["hasher_kind"] == "auto" and manifest["hasher"]["kind"] == kept
    assert manifest["train_info"]["auto"] == pipe.train_info["auto"]
    back = HashingPipeline.load(tmp_path / "p")
    assert back.hasher_kind == "auto" and back.trained.kind == kept and back.train_info == pipe.train_info
    np.testing.assert_array_equal(back.encode(val_texts), pipe.encode(val_texts))
    a, b = pipe.search(val_texts[:5], k=5), back.search(val_texts[:5], k=5)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_a_kept_itq_loads_without_torch(corpus, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(auto_select, "validation_precision", fixed_scores(0.1, 0.5))
    texts, labels, val_texts, val_labels = split(corpus)
    HashingPipeline(nbits=16, hasher="auto", hasher_params=PARAMS, verbose=False).fit(
        texts, labels, val_texts, val_labels).save(tmp_path / "p")
    code = ("import sys\n"
            "class BlockTorch:\n"  # any `import torch` now fails
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'torch' or name.startswith('torch.'):\n"
            "            raise ImportError('torch is blocked in this test')\n"
            "sys.meta_path.insert(0, BlockTorch())\n"
            "from nash_index.pipeline import HashingPipeline\n"
            f"p = HashingPipeline.load({str(tmp_path / 'p')!r})\n"
            "assert 'torch' not in sys.modules\n"
            "print(p.hasher_kind, p.trained.kind, p.encode(['parse a date string']).shape)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["auto", "itq", "(1,", "2)"]


def test_a_saved_auto_pipeline_must_hold_a_candidate(corpus, tmp_path):
    HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts[:100]).save(tmp_path / "p")
    manifest_path = tmp_path / "p" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["hasher_kind"] = "auto"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="a hasher='auto' pipeline holds a 'lsh' hasher"):
        HashingPipeline.load(tmp_path / "p", verify=False)


def test_without_labels_nash_is_kept_with_a_warning(corpus, monkeypatch):
    pytest.importorskip("torch")
    calls = []
    monkeypatch.setattr(auto_select, "validation_precision", lambda *a, **kw: calls.append(a) or 0.0)
    pipe = HashingPipeline(nbits=16, hasher="auto", hasher_params=PARAMS, verbose=False, validation_fraction=0.25)
    with pytest.warns(UserWarning, match=r"hasher='auto' compares .* but no labels were given: NASH is kept") as rec:
        pipe.fit(corpus.train_texts)
    assert [w.filename for w in rec if "hasher='auto'" in str(w.message)] == [__file__]
    assert pipe.train_info["hasher"] == "nash" and calls == []
    assert pipe.train_info["auto"]["reason"] == "no validation labels: kept NASH"
    assert pipe.train_info["n_val"] == round(len(corpus.train_texts) * 0.25)  # still held out for early stopping


def test_bad_input():
    with pytest.raises(ValueError, match="unknown hasher 'autoo'"):
        HashingPipeline(hasher="autoo")
    with pytest.raises(ValueError, match="num_threads is given twice"):
        HashingPipeline(hasher="auto", num_threads=2, hasher_params={"num_threads": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert HashingPipeline(hasher="Auto").hasher_kind == "auto"
