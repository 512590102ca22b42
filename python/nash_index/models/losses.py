"""Loss terms: closed-form KL divergences, reconstruction and classification losses.

All functions return one value per document (shape (n,)); callers average over the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .batching import Batch, SparseBatch

_EPS = 1e-7


def bernoulli_kl(h: torch.Tensor, gamma: float = 0.5) -> torch.Tensor:
    """KL(Bernoulli(h) || Bernoulli(gamma)) summed over bits, in closed form.

    ``sum_k h_k log(h_k / gamma) + (1 - h_k) log((1 - h_k) / (1 - gamma))``; h is clamped
    away from 0 and 1 only inside the logs so that 0 * log 0 evaluates to 0.
    """
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must lie in (0, 1), got {gamma}")
    hc = h.clamp(_EPS, 1.0 - _EPS)
    pos = h * (torch.log(hc) - torch.log(torch.tensor(gamma, dtype=h.dtype, device=h.device)))
    neg = (1.0 - h) * (torch.log1p(-hc) - torch.log1p(torch.tensor(-gamma, dtype=h.dtype,
                                                                     device=h.device)))
    return (pos + neg).sum(dim=-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) summed over dimensions."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def softmax_nll(log_probs: torch.Tensor, x: Batch, target: str = "presence") -> torch.Tensor:
    """Negative log-likelihood ``-sum_w t_w log q(w|z)`` of a bag of words.

    ``target`` picks the weight ``t_w`` of each word present in the document: ``"presence"``
    (1 for every distinct word, the VDSH/NASH recipe), or ``"counts"`` / ``"tfidf"`` (the entry
    of X itself, i.e. counts when X holds counts, TF-IDF weights when X holds TF-IDF).
    """
    if isinstance(x, SparseBatch):
        picked = log_probs[x.rows, x.cols]
        weights = torch.ones_like(picked) if target == "presence" else x.values
        per_entry = -weights * picked
        return torch.zeros(x.n_rows, dtype=log_probs.dtype,
                           device=log_probs.device).index_add_(0, x.rows, per_entry)
    weights = (x != 0).to(log_probs.dtype) if target == "presence" else x
    return -(weights * log_probs).sum(dim=-1)


def squared_distortion(x_hat: torch.Tensor, x: Batch) -> torch.Tensor:
    """``||x - x_hat||^2`` per document (Gaussian decoder)."""
    if isinstance(x, SparseBatch):
        raise TypeError("the Gaussian decoder needs dense input")
    return (x - x_hat).pow(2).sum(dim=-1)


def label_loss(logits: torch.Tensor, y: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Cross-entropy: softmax over classes (single-label) or per-label sigmoid (multi-label)."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(dim=-1)
    return F.cross_entropy(logits, y, reduction="none")
