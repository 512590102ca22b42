"""Encoder networks: document -> per-bit logits (NASH) or Gaussian moments (VDSH).

The first layer accepts both input kinds with one weight matrix: sparse batches go through
``F.embedding_bag`` (a weighted sum of the rows of the words present, i.e. a sparse matmul
costing O(nnz * width) instead of O(vocabulary * width)), dense batches through a matmul.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .batching import Batch, SparseBatch


class InputLayer(nn.Module):
    """Affine map ``x @ W + b`` that accepts a ``SparseBatch`` or a dense tensor."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        # Stored (in, out) so that a sparse row gathers rows of W; same init as nn.Linear.
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Batch) -> torch.Tensor:
        if isinstance(x, SparseBatch):
            out = F.embedding_bag(x.cols, self.weight, x.offsets, mode="sum",
                                  per_sample_weights=x.values)
            return out + self.bias
        return x @ self.weight + self.bias


class MLPEncoder(nn.Module):
    """``InputLayer`` then ReLU hidden layers with dropout, then a linear head.

    ``hidden=()`` gives a linear encoder (one affine map from the input to the head).
    ``n_heads=2`` returns two outputs (mean and log-variance for the Gaussian VAE).
    """

    def __init__(self, in_features: int, nbits: int, hidden: Sequence[int] = (500, 500),
                 dropout: float = 0.1, n_heads: int = 1) -> None:
        super().__init__()
        widths = [int(w) for w in hidden]
        self.n_heads = n_heads
        if widths:
            self.input = InputLayer(in_features, widths[0])
            self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
            self.heads = nn.ModuleList(nn.Linear(widths[-1], nbits) for _ in range(n_heads))
        else:
            self.input = None
            self.hidden = nn.ModuleList()
            self.heads = nn.ModuleList(InputLayer(in_features, nbits) for _ in range(n_heads))
        self.dropout = nn.Dropout(dropout)

    def features(self, x: Batch) -> Batch | torch.Tensor:
        """Last hidden representation (the raw input when the encoder is linear)."""
        if self.input is None:
            return x
        a = self.dropout(torch.relu(self.input(x)))
        for layer in self.hidden:
            a = self.dropout(torch.relu(layer(a)))
        return a

    def forward(self, x: Batch) -> torch.Tensor | tuple[torch.Tensor, ...]:
        a = self.features(x)
        outs = tuple(head(a) for head in self.heads)
        return outs[0] if self.n_heads == 1 else outs

    def affine_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Trunk layers as ``(W (in, out), b)`` pairs, in order, for numpy export."""
        layers = []
        if self.input is not None:
            layers.append((self.input.weight, self.input.bias))
        for layer in self.hidden:
            layers.append((layer.weight.t(), layer.bias))
        return layers

    def head_layer(self, i: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Head ``i`` as a ``(W (in, out), b)`` pair."""
        head = self.heads[i]
        if isinstance(head, InputLayer):
            return head.weight, head.bias
        return head.weight.t(), head.bias
