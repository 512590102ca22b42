"""Tests for nash_index.models: loss terms, sampling, training, encoding, persistence, export."""
from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from nash_index.models import NASH, VDSH, NumpyEncoder, random_search  # noqa: E402
from nash_index.models.base import NotFittedError  # noqa: E402
from nash_index.models.batching import SparseBatch, to_batch  # noqa: E402
from nash_index.models.encoder import InputLayer  # noqa: E402
from nash_index.models.losses import bernoulli_kl, gaussian_kl, softmax_nll  # noqa: E402
from nash_index.models.network import straight_through_sample  # noqa: E402
from nash_index.models.noise import FixedNoise, LearnedNoise  # noqa: E402
from nash_index.models.retrieval import _top_k_numpy, precision_at_k  # noqa: E402

FAST = dict(hidden=(64,), epochs=15, batch_size=32, lr=3e-3, verbose=False, device="cpu")
SUP = dict(label_hidden=32)


@pytest.fixture(autouse=True)
def _one_thread():
    """Keep the suite light on a shared 2-core machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def planted_corpus(n: int, seed: int, vocab: int = 400, topics: int = 5, length: int = 30,
                   purity: float = 0.7):
    """Bag-of-words documents: ``purity`` of the words come from the topic's own vocabulary
    block, the rest uniformly from the whole vocabulary. Returns (CSR log-counts, topic ids)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, topics, n)
    block = vocab // topics
    rows, cols = [], []
    for i, t in enumerate(y):
        own = rng.random(length) < purity
        words = np.where(own, t * block + rng.integers(0, block, length),
                         rng.integers(0, vocab, length))
        rows.extend([i] * length)
        cols.extend(words.tolist())
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, vocab))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    return X, y


def brute_precision(db_bits, db_y, q_bits, q_y, k):
    """Oracle precision@k for single-label data: per-query stable argsort of Hamming distances."""
    total = 0.0
    for q, label in zip(q_bits, q_y):
        dist = (db_bits != q).sum(axis=1)
        top = np.argsort(dist, kind="stable")[:k]
        total += np.mean(db_y[top] == label)
    return total / len(q_bits)


@pytest.fixture(scope="module")
def corpus():
    X, y = planted_corpus(600, seed=1)
    Xv, yv = planted_corpus(150, seed=2)
    return X, y, Xv, yv


@pytest.fixture(scope="module")
def fitted(corpus):
    X, y, Xv, yv = corpus
    torch.set_num_threads(1)
    return NASH(nbits=16, variant="nash-dn", noise_sigma=0.5, **FAST).fit(X, y, Xv, yv)


# ---- loss terms ---------------------------------------------------------------------------

@pytest.mark.parametrize("gamma", [0.5, 0.2])
def test_bernoulli_kl_matches_sum_over_all_codes(gamma):
    rng = np.random.default_rng(0)
    h = rng.uniform(0.01, 0.99, size=(3, 4))
    got = bernoulli_kl(torch.tensor(h), gamma).numpy()
    for row, value in zip(h, got):
        expected = 0.0
        for z in itertools.product((0, 1), repeat=4):  # enumerate the joint distribution
            z = np.array(z)
            q = np.prod(np.where(z, row, 1 - row))
            p = np.prod(np.where(z, gamma, 1 - gamma))
            expected += q * np.log(q / p)
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_bernoulli_kl_is_finite_and_zero_at_the_prior():
    h = torch.tensor([[0.0, 1.0, 0.5]], dtype=torch.float64)
    assert torch.isfinite(bernoulli_kl(h)).all()
    assert float(bernoulli_kl(torch.full((1, 8), 0.5))) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="gamma"):
        bernoulli_kl(h, gamma=1.0)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)


def test_softmax_nll_sparse_equals_dense_for_each_target():
    X = sp.random(6, 20, density=0.3, format="csr", random_state=0, dtype=np.float32)
    logp = torch.log_softmax(torch.randn(6, 20), -1)
    dense = torch.from_numpy(X.toarray())
    presence = -(dense.ne(0).float() * logp).sum(-1)
    for target in ("presence", "tfidf"):
        sparse_loss = softmax_nll(logp, to_batch(X), target)
        assert torch.allclose(sparse_loss, softmax_nll(logp, dense, target), atol=1e-5)
    assert torch.allclose(softmax_nll(logp, to_batch(X), "presence"), presence, atol=1e-5)


# ---- sampling, noise, layers ----------------------------------------------------------------

def test_straight_through_gradient_is_identity_and_nonzero():
    h = torch.rand(4, 8, requires_grad=True)
    z = straight_through_sample(h, stochastic=True)
    assert set(torch.unique(z.detach()).tolist()) <= {0.0, 1.0}
    w = torch.randn(4, 8)
    (z * w).sum().backward()
    assert torch.equal(h.grad, w)


def test_stochastic_sampling_matches_bernoulli_means():
    torch.manual_seed(0)
    h = torch.tensor([0.1, 0.5, 0.9]).expand(20000, 3)
    freq = straight_through_sample(h, stochastic=True).mean(0)
    assert torch.allclose(freq, torch.tensor([0.1, 0.5, 0.9]), atol=0.02)
    det = straight_through_sample(h, stochastic=False)
    assert torch.equal(det[0], torch.tensor([0.0, 0.0, 1.0]))


def test_encoder_receives_gradient_through_the_binary_code(corpus):
    X, y, _, _ = corpus
    model = NASH(nbits=8, **FAST)
    model.decoder_, model.distortion_weight_, model.multilabel_ = "softmax", 1.0, False
    net = model._build_net(X.shape[1], 0).train()
    loss, _ = net.loss(to_batch(X[:32]), None, kl_weight=0.0, alpha=0.0)  # reconstruction only
    loss.backward()
    assert net.encoder.input.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("form,width", [("per-bit", 8), ("per-document", 1)])
def test_learned_noise_shape_range_and_eval_identity(form, width):
    noise = LearnedNoise(8, sigma0=0.3, form=form)
    h = torch.rand(5, 8)
    sigma = noise.sigma(h)
    assert sigma.shape == (5, width)
    assert torch.allclose(sigma, torch.full_like(sigma, 0.3))  # starts at sigma0
    z = torch.randint(0, 2, (5, 8)).float()
    assert not torch.equal(noise.train()(z, h), z)
    assert torch.equal(noise.eval()(z, h), z)
    assert torch.equal(FixedNoise(1.0).eval()(z, h), z)


@pytest.mark.parametrize("form", ["per-bit", "per-document"])
def test_noise_rate_is_the_gaussian_kl_to_the_prior_width(form):
    noise = LearnedNoise(6, sigma0=0.3, form=form, charge_rate=True)
    h = torch.rand(4, 6)
    assert torch.allclose(noise.rate(h), torch.zeros(4))  # sigma == sigma0 at the start
    with torch.no_grad():
        noise.net[-1].bias.fill_(-1.5)  # sigma = 0.6 * sigmoid(-1.5), below the prior width
    sigma = noise.sigma(h).expand(4, 6)
    by_hand = (np.log(0.3 / sigma.detach().numpy()) + sigma.detach().numpy() ** 2 / (2 * 0.09)
               - 0.5).sum(axis=1)
    assert np.allclose(noise.rate(h).detach().numpy(), by_hand, rtol=1e-5)
    assert (noise.rate(h) > 0).all()


def test_noise_kl_adds_the_rate_to_the_training_loss(corpus):
    X = corpus[0]
    kw = {**FAST, "epochs": 1}
    plain = NASH(nbits=8, **kw).fit(X)
    charged = NASH(nbits=8, noise_kl=True, **kw).fit(X)
    assert charged.net_.noise.charge_rate and not plain.net_.noise.charge_rate
    with torch.no_grad():
        charged.net_.noise.net[-1].bias.fill_(-1.0)
    batch = to_batch(X[:64])
    charged.net_.train()
    torch.manual_seed(0)
    _, with_rate = charged.net_.loss(batch, None, kl_weight=1.0, alpha=0.0)
    charged.net_.noise.charge_rate = False
    torch.manual_seed(0)
    _, without = charged.net_.loss(batch, None, kl_weight=1.0, alpha=0.0)
    assert with_rate["kl"] > without["kl"]


def test_input_layer_sparse_path_equals_dense_matmul():
    layer = InputLayer(30, 7)
    X = sp.random(9, 30, density=0.2, format="csr", random_state=1, dtype=np.float32)
    batch = to_batch(X)
    assert isinstance(batch, SparseBatch)
    expected = torch.from_numpy(X.toarray()) @ layer.weight + layer.bias
    assert torch.allclose(layer(batch), expected, atol=1e-6)


# ---- training and encoding ----------------------------------------------------------------

def test_planted_topics_are_learned_to_high_precision(fitted):
    X, y = planted_corpus(600, seed=1)
    Xt, yt = planted_corpus(200, seed=3)
    db, q = fitted.encode_bits(X), fitted.encode_bits(Xt)
    assert brute_precision(db, y, q, yt, k=50) > 0.9  # chance is 0.2
    assert fitted.result_.seconds < 30


def test_encode_is_deterministic_and_noise_free(fitted, corpus):
    X = corpus[0]
    torch.manual_seed(123)
    first = fitted.encode(X)
    torch.manual_seed(456)
    fitted.net_.train()  # even a module left in training mode must not leak noise/dropout
    second = fitted.encode(X)
    assert np.array_equal(first, second)
    with torch.no_grad():
        logits = fitted.net_.eval().encoder(to_batch(X)).numpy()
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

def test_validation_retrieval_matches_brute_force_with_index_order_ties():
    rng = np.random.default_rng(0)
    db = rng.integers(0, 2, (300, 16)).astype(np.uint8)
    q = rng.integers(0, 2, (40, 16)).astype(np.uint8)
    ids = _top_k_numpy(db, q, 25)
    for row, qi in zip(ids, q):
        dist = (db != qi).sum(1)
        assert np.array_equal(row, np.argsort(dist, kind="stable")[:25])
    ydb, yq = rng.integers(0, 3, 300), rng.integers(0, 3, 40)
    eye = np.eye(3, dtype=bool)
    assert precision_at_k(db, eye[ydb], q, eye[yq], 25) == pytest.approx(
        brute_precision(db, ydb, q, yq, 25))


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
