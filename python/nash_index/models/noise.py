"""Gaussian noise injected into the binary code before the decoder, in training only.

NASH-N adds ``eps ~ N(0, sigma^2 I)`` with a fixed sigma. NASH-DN makes sigma data-dependent
and learned. The paper's exact form is not public and re-implementations disagree, so the form
is an explicit choice here:

* ``"per-bit"`` (default for NASH-DN): a small MLP on the Bernoulli means h predicts one sigma
  per bit, ``sigma_k(x) = 2 * sigma0 * sigmoid(a_k(h))``. The last layer starts at zero, so
  every sigma starts at ``sigma0`` and stays in (0, 2 * sigma0): bounded, hence stable.
* ``"per-document"``: the same network with a single output, one sigma per document.

Nothing in -ELBO rewards noise, so a learned sigma drifts down towards plain NASH. With
``noise_kl=True`` the noise pays its rate instead: the loss gains, per bit,
``KL(N(0, sigma(x)^2) || N(0, sigma0^2)) = log(sigma0 / sigma) + sigma^2 / (2 sigma0^2) - 1/2``
(the KL of the Gaussian part of the relaxed latent z + eps against a prior of width sigma0), so
each input settles where a little less distortion stops paying for a little more rate.

Noise is never applied in eval mode, so encoded codes are noise-free by construction (and the
encoding path does not call these modules at all).
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import check_choice

NOISE_FORMS = ("per-bit", "per-document")


class NoNoise(nn.Module):
    """Identity: plain NASH."""

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return z


class FixedNoise(nn.Module):
    """Additive Gaussian noise with a fixed standard deviation (NASH-N)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0.0:
            return z
        return z + self.sigma * torch.randn_like(z)


class LearnedNoise(nn.Module):
    """Data-dependent, learned noise level (NASH-DN); see the module docstring."""

    def __init__(self, nbits: int, sigma0: float, form: str = "per-bit", hidden: int = 64,
                 charge_rate: bool = False) -> None:
        super().__init__()
        self.charge_rate = charge_rate
        check_choice(form, NOISE_FORMS, "noise form")
        self.sigma0 = float(sigma0)
        self.form = form
        out = nbits if form == "per-bit" else 1
        self.net = nn.Sequential(nn.Linear(nbits, hidden), nn.ReLU(), nn.Linear(hidden, out))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def sigma(self, h: torch.Tensor) -> torch.Tensor:
        """Standard deviation of the noise, shape (n, nbits) or (n, 1)."""
        return 2.0 * self.sigma0 * torch.sigmoid(self.net(h))

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return z
        return z + self.sigma(h) * torch.randn_like(z)

    def rate(self, h: torch.Tensor) -> torch.Tensor:
        """Per-document ``sum_k KL(N(0, sigma_k^2) || N(0, sigma0^2))``; the loss adds it only
        when ``charge_rate`` is set."""
        ratio = self.sigma(h) / self.sigma0
        kl = -torch.log(ratio) + 0.5 * ratio.pow(2) - 0.5
        return kl.expand(h.shape[0], h.shape[1]).sum(dim=-1)  # a per-document sigma covers all bits


def make_noise(variant: str, nbits: int, sigma: float, form: str,
               charge_rate: bool = False) -> nn.Module:
    """Noise module for a NASH variant (``"nash"``, ``"nash-n"`` or ``"nash-dn"``)."""
    if variant == "nash":
        return NoNoise()
    if variant == "nash-n":
        return FixedNoise(sigma)
    if variant == "nash-dn":
        return LearnedNoise(nbits, sigma, form, charge_rate=charge_rate)
    raise ValueError(f"unknown variant {variant!r}")
