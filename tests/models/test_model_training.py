"""nash_index.models, training: learning planted topics, encoding, persistence and the numpy export,
validation retrieval, model selection, errors (the parts: test_model_parts.py)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from planted import FAST, SUP, brute_precision, corpus, one_torch_thread, planted_corpus  # noqa: E402, F401 (fixtures)

import nash_index as ni  # noqa: E402
from nash_index.evaluation import labels_to_indicator, precision_at_k  # noqa: E402
from nash_index.models import NASH, VDSH, NumpyEncoder, random_search  # noqa: E402
from nash_index.models.base import NotFittedError  # noqa: E402
from nash_index.models.batching import to_batch  # noqa: E402


@pytest.fixture(scope="module")
def fitted(corpus):
    X, y, Xv, yv = corpus
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = NASH(nbits=16, variant="nash-dn", noise_sigma=0.5, **FAST).fit(X, y, Xv, yv)
    model.test_wall_seconds = time.perf_counter() - t0  # the fit's wall time, seen from outside
    return model


# ---- training and encoding ----------------------------------------------------------------

def test_planted_topics_are_learned_to_high_precision(fitted):
    X, y = planted_corpus(600, seed=1)
    Xt, yt = planted_corpus(200, seed=3)
    db, q = fitted.encode_bits(X), fitted.encode_bits(Xt)
    assert brute_precision(db, y, q, yt, k=50) > 0.9  # chance is 0.2
    # the recorded wall time covers every epoch's and lies within the fit call (speed itself is
    # for bench/, not timed tests)
    epoch_seconds = [record["seconds"] for record in fitted.history_]
    assert epoch_seconds == sorted(epoch_seconds) and epoch_seconds[0] > 0
    assert epoch_seconds[-1] <= fitted.result_.seconds <= fitted.test_wall_seconds


def test_encode_is_deterministic_and_noise_free(fitted, corpus):
    X = corpus[0]
    torch.manual_seed(123)
    first = fitted.encode(X)
    torch.manual_seed(456)
    fitted.net_.train()  # even a module left in training mode must not leak noise/dropout
    second = fitted.encode(X)
    assert np.array_equal(first, second)
    with torch.no_grad():
        logits = fitted.net_.eval().code_scores(to_batch(X)).numpy()  # the encoder on its (normalised) input
    assert np.array_equal(first, np.packbits(logits > 0, axis=1))
    assert first.dtype == np.uint8 and first.shape == (X.shape[0], 2)


def test_encode_bits_and_packed_codes_agree(fitted, corpus):
    bits = fitted.encode_bits(corpus[0])
    assert np.array_equal(np.unpackbits(fitted.encode(corpus[0]), axis=1), bits)


def test_dense_input_with_gaussian_decoder():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 24))
    y = rng.integers(0, 4, 500)
    X = (centers[y] + 0.3 * rng.normal(size=(500, 24))).astype(np.float32)
    model = NASH(nbits=8, variant="nash-n", **FAST).fit(X[:400], y[:400], X[400:], y[400:])
    assert model.decoder_ == "gaussian"
    db, q = model.encode_bits(X[:400]), model.encode_bits(X[400:])
    assert brute_precision(db, y[:400], q, y[400:], k=50) > 0.9


def test_supervised_variant_and_vdsh_train(corpus):
    X, y, Xv, yv = corpus
    sup = NASH(nbits=8, supervised=True, **SUP, **FAST).fit(X, y, Xv, yv)
    assert sup.net_.label_head is not None and "cls" in sup.net_.loss(
        to_batch(X[:4]), torch.zeros(4, dtype=torch.long), 1.0, 1.0)[1]
    vdsh = VDSH(nbits=8, **FAST).fit(X, y, Xv, yv)
    bits = vdsh.encode_bits(X)
    assert np.allclose(bits.mean(0), 0.5, atol=0.01)  # median thresholds balance every bit
    assert vdsh.result_.best_score > 0.5


def test_multilabel_supervision(corpus):
    X, y, Xv, yv = corpus
    Y = np.eye(5, dtype=np.uint8)[y]
    Y[::7, 0] = 1  # a second label on some documents
    Yv = np.eye(5, dtype=np.uint8)[yv]
    model = NASH(nbits=8, supervised=True, **SUP, **FAST).fit(X, Y, Xv, Yv)
    assert model.multilabel_ and len(model.classes_) == 5


def test_early_stopping_without_labels_uses_validation_loss(corpus):
    X, _, Xv, _ = corpus
    model = NASH(nbits=8, **{**FAST, "epochs": 3}).fit(X, X_val=Xv)
    assert model.result_.criterion == "val_loss" and model.result_.best_score < 0
    plain = NASH(nbits=8, **{**FAST, "epochs": 2}).fit(X)
    assert plain.result_.criterion == "none" and len(plain.history_) == 2


def test_early_stopping_waits_for_min_steps(corpus, monkeypatch):
    """A validation score that falls after epoch 1 (a collapsed start) does not stop training
    before TrainConfig.min_steps optimiser steps; after that, patience applies as usual."""
    from nash_index.models.training import TrainConfig
    X, y, Xv, yv = corpus
    scripted = iter([1.0] + [0.5] * 100)
    monkeypatch.setattr(NASH, "_make_scorer", lambda self, *a: lambda: next(scripted))
    model = NASH(nbits=8, **{**FAST, "epochs": 40, "patience": 2, "hidden": (8,)}).fit(X, y, Xv, yv)
    steps_per_epoch = -(-X.shape[0] // FAST["batch_size"])
    first_allowed = -(-TrainConfig.min_steps // steps_per_epoch)  # the first epoch ending at >= min_steps
    assert len(model.history_) == max(first_allowed, 3) and model.result_.best_epoch == 1


def test_fixed_seed_reproduces_codes(corpus):
    X, y, Xv, yv = corpus
    a = NASH(nbits=8, **{**FAST, "epochs": 3}).fit(X, y, Xv, yv).encode(Xv)
    b = NASH(nbits=8, **{**FAST, "epochs": 3}).fit(X, y, Xv, yv).encode(Xv)
    assert np.array_equal(a, b)


# ---- persistence and export ----------------------------------------------------------------

def test_save_load_gives_identical_codes(fitted, corpus, tmp_path):
    X = corpus[0]
    fitted.save(tmp_path / "m")
    loaded = NASH.load(tmp_path / "m", device="cpu")
    assert np.array_equal(loaded.encode(X), fitted.encode(X))
    assert loaded.get_params()["hidden"] == fitted.hidden
    with pytest.raises(ValueError, match="holds a NASH"):
        VDSH.load(tmp_path / "m")


def test_save_load_vdsh_and_supervised(corpus, tmp_path):
    X, y, Xv, yv = corpus
    for i, model in enumerate([VDSH(nbits=8, **{**FAST, "epochs": 2}),
                               NASH(nbits=8, supervised=True, **SUP, **{**FAST, "epochs": 2})]):
        model.fit(X, y, Xv, yv).save(tmp_path / str(i))
        loaded = type(model).load(tmp_path / str(i))
        assert np.array_equal(loaded.encode(Xv), model.encode(Xv))


def test_numpy_encoder_gives_identical_codes(fitted, corpus, tmp_path):
    X, _, Xv, _ = corpus
    enc = fitted.export_numpy_encoder()
    assert np.array_equal(enc.encode(X), fitted.encode(X))
    assert np.array_equal(enc.encode(Xv.toarray()), fitted.encode(Xv))  # dense input too
    enc.save(tmp_path / "enc.npz")
    assert np.array_equal(NumpyEncoder.load(tmp_path / "enc.npz").encode(Xv), fitted.encode(Xv))
    linear = NASH(nbits=8, **{**FAST, "hidden": (), "epochs": 2}).fit(X)
    assert np.array_equal(linear.export_numpy_encoder().encode(Xv), linear.encode(Xv))


def test_numpy_encoder_runs_without_torch(fitted, corpus, tmp_path):
    _, _, Xv, _ = corpus
    fitted.export_numpy_encoder().save(tmp_path / "enc.npz")
    sp.save_npz(tmp_path / "x.npz", Xv)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any torch import now fails
        import numpy as np, scipy.sparse as sp
        import nash_index
        from nash_index.models import NumpyEncoder
        codes = NumpyEncoder.load({str(tmp_path / 'enc.npz')!r}).encode(
            sp.load_npz({str(tmp_path / 'x.npz')!r}))
        np.save({str(tmp_path / 'codes.npy')!r}, codes)
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    assert np.array_equal(np.load(tmp_path / "codes.npy"), fitted.encode(Xv))


# ---- retrieval used for validation ----------------------------------------------------------

def oracle_multilabel_precision(db_bits, db_ind, q_bits, q_ind, k):
    """Precision@k, ties by database id (stable argsort), relevant = label sets intersect."""
    total = 0.0
    for bits, labels in zip(q_bits, q_ind):
        top = np.argsort((db_bits != bits).sum(axis=1), kind="stable")[:k]
        total += np.mean((db_ind[top] & labels).any(axis=1))
    return total / len(q_bits)


def test_validation_retrieval_matches_brute_force_with_index_order_ties():
    """What early stopping scores (models.retrieval is gone): evaluation.precision_at_k(...).index_order
    on packed codes, labels through evaluation.labels_to_indicator, equals a stable-argsort brute force."""
    rng = np.random.default_rng(0)
    db = rng.integers(0, 2, (300, 16)).astype(np.uint8)  # 16 bits, 300 codes: ties at every k
    q = rng.integers(0, 2, (40, 16)).astype(np.uint8)
    db_codes, q_codes = np.packbits(db, axis=1), np.packbits(q, axis=1)
    # the retrieved ids are the stable argsort's (ties by database id)
    index = ni.FlatIndex(16)
    index.add(db_codes)
    ids = index.search(q_codes, 25).ids
    for row, qi in zip(ids, q):
        assert np.array_equal(row, np.argsort((db != qi).sum(1), kind="stable")[:25])
    ydb, yq = rng.integers(0, 3, 300), rng.integers(0, 3, 40)
    ind, multilabel, classes = labels_to_indicator(np.concatenate([ydb, yq]))
    assert not multilabel and classes.tolist() == [0, 1, 2]
    for k in (1, 25, 300):
        got = precision_at_k(db_codes, ind[:300], q_codes, ind[300:], k).index_order
        assert got == pytest.approx(brute_precision(db, ydb, q, yq, k))
    Y = rng.random((340, 4)) < 0.3  # multi-label: relevant when label sets intersect
    ind, multilabel, _ = labels_to_indicator(Y.astype(np.uint8))
    assert multilabel
    for k in (1, 25, 300):
        got = precision_at_k(db_codes, ind[:300], q_codes, ind[300:], k).index_order
        assert got == pytest.approx(oracle_multilabel_precision(db, Y[:300], q, Y[300:], k))


def test_best_score_is_the_validation_precision_of_the_kept_model(corpus):
    """The model kept by early stopping scores result_.best_score: its codes' precision@eval_k."""
    X, y, Xv, yv = corpus
    model = NASH(nbits=16, **{**FAST, "epochs": 3}).fit(X, y, Xv, yv)
    assert model.result_.criterion != "none"
    db_bits, q_bits = model.encode_bits(X), model.encode_bits(Xv)
    k = min(int(model.eval_k), X.shape[0])
    assert model.result_.best_score == pytest.approx(brute_precision(db_bits, y, q_bits, yv, k), abs=1e-6)


def test_random_search_returns_the_best_trial(corpus):
    X, y, Xv, yv = corpus
    best, trials = random_search(NASH(nbits=8, **{**FAST, "epochs": 2}),
                                 {"lr": [1e-3, 3e-3], "dropout": [0.0, 0.2]},
                                 X, y, Xv, yv, n_trials=2, seed=0)
    assert len(trials) == 2 and trials[0]["score"] >= trials[1]["score"]
    assert best.result_.best_score == trials[0]["score"]


# ---- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    ({"nbits": 12}, "multiple of 8"),
    ({"variant": "nash-x"}, "variant"),
    ({"noise_form": "global"}, "noise_form"),
    ({"target": "bm25"}, "target"),
    ({"dropout": 1.0}, "dropout"),
    ({"gamma": 0.0}, "gamma"),
])
def test_bad_parameters_raise_value_error(corpus, kwargs, match):
    with pytest.raises(ValueError, match=match):
        NASH(**{**FAST, **kwargs}).fit(corpus[0])


def test_bad_input_raises_clear_errors(fitted, corpus):
    X, y, Xv, _ = corpus
    with pytest.raises(NotFittedError):
        NASH().encode(X)
    with pytest.raises(ValueError, match="features"):
        fitted.encode(X[:, :10])
    with pytest.raises(TypeError, match="numpy array or scipy.sparse"):
        NASH(**FAST).fit("not a matrix")
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        NASH(**FAST).fit(bad)
    with pytest.raises(ValueError, match="supervised=True needs labels"):
        NASH(supervised=True, **FAST).fit(X)
    with pytest.raises(ValueError, match="y_val given without X_val"):
        NASH(**FAST).fit(X, y, y_val=y)
    with pytest.raises(ValueError, match="non-negative"):
        NASH(decoder="softmax", **FAST).fit(-X.toarray())
    with pytest.raises(ValueError, match="unknown parameter"):
        NASH().set_params(bits=8)


def test_non_finite_loss_raises_floating_point_error():
    X = np.full((64, 4), 1e30, dtype=np.float32)
    with pytest.raises(FloatingPointError, match="non-finite"):
        NASH(nbits=8, distortion_weight=1e30, **FAST).fit(X)


@pytest.mark.parametrize("max_norm", [1e-3, 0.5, 1e3])
def test_clip_gradients_is_torch_clip_grad_norm_bitwise(max_norm):
    """The training loop's clipping equals nn.utils.clip_grad_norm_ exactly, below and above the bound."""
    import torch
    from torch import nn

    from nash_index.models.training import clip_gradients

    def net_with_grads():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 5))
        net(torch.randn(8, 30)).square().sum().backward()
        return net

    ours, theirs = net_with_grads(), net_with_grads()
    clip_gradients(ours, max_norm)
    nn.utils.clip_grad_norm_(theirs.parameters(), max_norm)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a.grad, b.grad)
    norm = torch.sqrt(sum(p.grad.square().sum() for p in ours.parameters()))
    assert float(norm) <= max_norm * (1 + 1e-5) or max_norm == 1e3
