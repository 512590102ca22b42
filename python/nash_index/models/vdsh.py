"""VDSH (Chaidaroon & Fang, SIGIR 2017): the Gaussian-VAE baseline NASH improves on.

A continuous Gaussian latent is trained as a VAE (with the same linear softmax decoder), then
binarised after training: bit k is 1 when mu_k(x) exceeds the median of mu_k over the database.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .base import BaseHasher
from .batching import ArrayLike
from .network import VDSHNet


class VDSH(BaseHasher):
    """Variational deep semantic hashing (unsupervised); parameters as in ``NASH``.

    ``kl_anneal_steps`` defaults to 5000 (VDSH warms the KL weight up by 1/5000 per step).
    """

    def __init__(self, nbits: int = 32, hidden: Sequence[int] = (500, 500),
                 dropout: float = 0.1, decoder: str = "auto", target: str = "presence",
                 kl_weight: float = 1.0, kl_anneal_steps: int = 5000,
                 distortion_weight: Optional[float] = None, epochs: int = 100,
                 batch_size: int = 64, lr: float = 1e-3, patience: int = 6,
                 grad_clip: Optional[float] = 10.0, eval_k: int = 100, seed: int = 0,
                 device: Union[str, torch.device] = "auto", verbose: bool = True,
                 num_threads: Optional[int] = None) -> None:
        self._store_params(locals())
        self.hidden = hidden if isinstance(hidden, str) else tuple(hidden)  # a string is refused in fit

    def build_net(self, n_features: int, n_labels: int) -> nn.Module:
        return VDSHNet(n_features, int(self.nbits), self.hidden, float(self.dropout),
                       self.decoder_, self.target, self.distortion_weight_)

    def _thresholds_from_scores(self, scores: np.ndarray) -> np.ndarray:
        """Per-bit medians, moved up to halfway towards the next larger score: the same codes for
        these scores (``score > threshold``), but no score sits on its threshold, so the numpy export
        (whose float sums may differ by ~1e-8) gives the torch model's codes. Duplicate documents at
        the median used to flip there."""
        scores = np.asarray(scores, dtype=np.float32)
        medians = np.median(scores, axis=0).astype(np.float32)
        above = np.where(scores > medians, scores, np.inf).min(axis=0)
        # the midpoint in float64, kept only where float32 can hold it strictly below `above`
        # (adjacent floats have no midpoint: there the median stays)
        mid = ((medians.astype(np.float64) + above) / 2).astype(np.float32)
        return np.where(mid < above, mid, medians)

    def _thresholds(self, X: ArrayLike) -> np.ndarray:
        """Per-bit medians of the posterior means over the training (database) documents."""
        return self._thresholds_from_scores(self._scores(X))
