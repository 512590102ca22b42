"""Decoders (generative networks) and the supervised label head.

The paper's ablation found a linear decoder best, so both decoders are one affine map of z:
``SoftmaxDecoder`` for bag-of-words input (log q(w|z) = log softmax(E z + b)_w) and
``GaussianDecoder`` for dense input such as sentence embeddings (x_hat = E z + b, scored by
the squared distortion ||x - x_hat||^2 of the paper's rate-distortion form).
"""
from __future__ import annotations

import torch
from torch import nn


class SoftmaxDecoder(nn.Module):
    """Linear map to vocabulary logits followed by ``log_softmax``."""

    def __init__(self, nbits: int, vocab_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(nbits, vocab_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.linear(z), dim=-1)


class GaussianDecoder(nn.Module):
    """Linear reconstruction ``E z + b`` of a dense input vector."""

    def __init__(self, nbits: int, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(nbits, n_features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)


class LabelHead(nn.Module):
    """Two-layer ReLU MLP from the code to label logits (NASH-DN-S)."""

    def __init__(self, nbits: int, n_labels: int, hidden: int = 500) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(nbits, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_labels))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
