"""The torch modules behind the estimators: NASH (Bernoulli latent) and VDSH (Gaussian latent).

Each network exposes ``code_scores(x)`` (the quantity thresholded into bits at encode time) and
``loss(x, y, kl_weight, alpha)`` returning the per-batch objective and its parts.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .batching import Batch, l2_normalised
from .decoder import GaussianDecoder, LabelHead, SoftmaxDecoder
from .encoder import MLPEncoder
from .losses import bernoulli_kl, gaussian_kl, label_loss, softmax_nll, squared_distortion
from .noise import make_noise


def straight_through_sample(h: torch.Tensor, stochastic: bool) -> torch.Tensor:
    """Binary code with the straight-through gradient dz/dh := 1.

    Training samples ``z = 1[h > u]``, ``u ~ U(0, 1)`` (i.e. z ~ Bernoulli(h)); otherwise the
    deterministic ``z = 1[h > 0.5]``. The forward value is exactly 0/1, the backward pass is the
    identity on h.
    """
    threshold = torch.rand_like(h) if stochastic else torch.full_like(h, 0.5)
    hard = (h > threshold).to(h.dtype)
    return h + (hard - h).detach()


class _Reconstruction(nn.Module):
    """Decoder plus its likelihood: softmax over words, or Gaussian distortion."""

    def __init__(self, nbits: int, n_features: int, decoder: str, target: str,
                 distortion_weight: float) -> None:
        super().__init__()
        self.kind = decoder
        self.target = target
        self.distortion_weight = float(distortion_weight)
        if decoder == "softmax":
            self.decoder: nn.Module = SoftmaxDecoder(nbits, n_features)
        else:
            self.decoder = GaussianDecoder(nbits, n_features)

    def forward(self, z: torch.Tensor, x: Batch) -> torch.Tensor:
        """Per-document negative log-likelihood (up to a constant)."""
        return self.nll(self.decoder(z), x)

    def nll(self, out: torch.Tensor, x: Batch, weighted: bool = False) -> torch.Tensor:
        """The likelihood of target ``x`` under decoder output ``out``; ``weighted`` scores a
        sparse target by its entries whatever ``target`` says (the neighbours' mean rows)."""
        if self.kind == "softmax":
            return softmax_nll(out, x, "counts" if weighted else self.target)
        return self.distortion_weight * squared_distortion(out, x)


class NASHNet(nn.Module):
    """Bernoulli encoder, optional noise, linear decoder, optional label head."""

    def __init__(self, n_features: int, nbits: int, hidden: Sequence[int], dropout: float,
                 variant: str, noise_sigma: float, noise_form: str, decoder: str, target: str,
                 gamma: float, distortion_weight: float, n_labels: int = 0,
                 multilabel: bool = False, label_hidden: int = 500,
                 noise_kl: bool = False, neighbour_weight: float = 0.0, row_norm: bool = False) -> None:
        super().__init__()
        self.neighbour_weight = float(neighbour_weight)
        self.row_norm = bool(row_norm)  # the encoder sees unit rows (input_norm="l2"; row_norm.py)
        self.encoder = MLPEncoder(n_features, nbits, hidden, dropout)
        self.noise = make_noise(variant, nbits, noise_sigma, noise_form, charge_rate=noise_kl)
        self.recon = _Reconstruction(nbits, n_features, decoder, target, distortion_weight)
        self.gamma = float(gamma)
        self.multilabel = multilabel
        self.label_head: Optional[LabelHead] = (LabelHead(nbits, n_labels, label_hidden)
                                                if n_labels else None)

    def code_scores(self, x: Batch) -> torch.Tensor:
        """Encoder logits g(x); bit k is 1 iff g_k(x) > 0, i.e. sigmoid(g_k(x)) > 0.5."""
        return self.encoder(l2_normalised(x) if self.row_norm else x)

    def loss(self, x: Batch, y: Optional[torch.Tensor], kl_weight: float,
             alpha: float, x_neighbours: Optional[Batch] = None, init_bits: Optional[torch.Tensor] = None,
             init_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
        """-ELBO (+ the label loss), plus ``neighbour_weight`` times the likelihood of the
        neighbours' mean target ``x_neighbours`` decoded from the same code (``neighbours.py``),
        plus, during a warm start, ``init_weight`` times the cross-entropy of the bits against
        ``init_bits`` (0/1, one row per document)."""
        logits = self.code_scores(x)  # the decoder's target below is x as given
        h = torch.sigmoid(logits)
        z = straight_through_sample(h, stochastic=self.training)
        out = self.recon.decoder(self.noise(z, h))
        recon = self.recon.nll(out, x).mean()
        if x_neighbours is not None:  # given only when the term is on (NASH._neighbour_targets)
            recon = recon + self.neighbour_weight * self.recon.nll(out, x_neighbours, weighted=True).mean()
        kl = bernoulli_kl(h, self.gamma).mean()
        if self.training and getattr(self.noise, "charge_rate", False):
            kl = kl + self.noise.rate(h).mean()  # the learned noise's own rate (noise_kl=True)
        total = recon + kl_weight * kl
        parts = {"recon": float(recon.detach()), "kl": float(kl.detach())}
        if init_bits is not None:
            pull = F.binary_cross_entropy_with_logits(logits, init_bits, reduction="none").sum(dim=-1).mean()
            total = total + init_weight * pull
            parts["init"] = float(pull.detach())
        if self.label_head is not None and y is not None:
            cls = label_loss(self.label_head(z), y, self.multilabel).mean()
            total = total + alpha * cls
            parts["cls"] = float(cls.detach())
        return total, parts


class VDSHNet(nn.Module):
    """Gaussian VAE (Chaidaroon & Fang 2017); codes threshold the mean at per-bit medians."""

    def __init__(self, n_features: int, nbits: int, hidden: Sequence[int], dropout: float,
                 decoder: str, target: str, distortion_weight: float) -> None:
        super().__init__()
        self.encoder = MLPEncoder(n_features, nbits, hidden, dropout, n_heads=2)
        self.recon = _Reconstruction(nbits, n_features, decoder, target, distortion_weight)

    def code_scores(self, x: Batch) -> torch.Tensor:
        """Posterior means mu(x)."""
        return self.encoder(x)[0]

    def loss(self, x: Batch, y: Optional[torch.Tensor], kl_weight: float,
             alpha: float) -> tuple[torch.Tensor, dict[str, float]]:
        mu, logvar = self.encoder(x)
        logvar = logvar.clamp(-10.0, 10.0)  # keeps exp() finite early in training
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        recon = self.recon(z, x).mean()
        kl = gaussian_kl(mu, logvar).mean()
        return recon + kl_weight * kl, {"recon": float(recon.detach()), "kl": float(kl.detach())}
