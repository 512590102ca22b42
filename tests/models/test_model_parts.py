"""nash_index.models, the parts: loss terms, straight-through sampling, noise, the input layer."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from planted import FAST, corpus, one_torch_thread, planted_corpus  # noqa: E402, F401 (fixtures)

from nash_index.models import NASH  # noqa: E402
from nash_index.models.batching import SparseBatch, to_batch  # noqa: E402
from nash_index.models.encoder import InputLayer  # noqa: E402
from nash_index.models.losses import bernoulli_kl, gaussian_kl, softmax_nll  # noqa: E402
from nash_index.models.network import straight_through_sample  # noqa: E402
from nash_index.models.noise import FixedNoise, LearnedNoise  # noqa: E402

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
    net = model.build_net(X.shape[1], 0).train()
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
