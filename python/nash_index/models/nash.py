"""NASH (Shen et al., ACL 2018): end-to-end binary codes from a Bernoulli VAE.

Variants: ``"nash"`` (no noise), ``"nash-n"`` (fixed Gaussian noise on z before the decoder)
and ``"nash-dn"`` (learned, data-dependent noise; see ``noise.py`` for the form). With
``supervised=True`` a label head on z adds ``alpha * cross-entropy`` to -ELBO (NASH-DN-S).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..checks import Integer, Options, Real
from .base import BaseHasher
from .batching import ArrayLike
from .neighbours import NeighbourTargets, nearest_neighbours
from .network import NASHNet
from .noise import NOISE_FORMS
from .row_norm import INPUT_NORMS

VARIANTS = ("nash", "nash-n", "nash-dn")


class NASH(BaseHasher):
    """Neural architecture for generative semantic hashing.

    Parameters
    ----------
    nbits : code length, a positive multiple of 8.
    variant : ``"nash"``, ``"nash-n"`` or ``"nash-dn"``.
    supervised : add the label head and classification loss (needs ``y`` in ``fit``).
    hidden : widths of the encoder's ReLU layers; ``()`` gives a linear encoder.
    dropout : dropout after each hidden layer (training only).
    noise_sigma : NASH-N's fixed sigma; NASH-DN's initial sigma (its range is (0, 2 sigma)).
    noise_form : NASH-DN's form, ``"per-bit"`` (default) or ``"per-document"``.
    noise_kl : NASH-DN only: charge the learned noise its rate, a KL to N(0, noise_sigma^2)
        (see ``noise.py``). Off by default: on validation it moved precision@100 by -0.0007 on
        average (Reuters, 16 and 32 bits, 3 seeds; ``bench/results/tune.md``), inside seed noise.
    decoder : ``"softmax"`` (bag of words), ``"gaussian"`` (dense input, ||x - Ez||^2) or
        ``"auto"`` (softmax for scipy.sparse X, Gaussian for dense X).
    target : words summed by the softmax likelihood: ``"presence"`` (each distinct word once;
        the default, far better than weighting), ``"counts"`` or ``"tfidf"`` (weight each word
        by its entry in X).
    gamma : Bernoulli prior mean of every bit.
    kl_weight, kl_anneal_steps : weight of the KL term, linearly warmed up over that many steps.
    alpha, label_hidden : classification-loss weight and label-MLP width (supervised only).
    distortion_weight : beta = 1 / (2 sigma^2) of the Gaussian decoder; None uses X's variance.
    epochs, batch_size, lr, patience, grad_clip : Adam training and early stopping (after `patience`
        epochs without a better validation score, but never within the first 500 optimiser steps,
        while a fresh encoder may still be collapsed; see ``TrainConfig.min_steps``).
    eval_k : precision@k used for early stopping when validation labels are given.
    seed, device, verbose : random seed, ``"auto"``/``"cpu"``/``"cuda"``, progress bar.
    num_threads : torch's CPU threads during ``fit`` and ``encode`` (None: 1, which does not
        oversubscribe a shared machine; see ``models/threads.py``); the caller's torch setting is
        restored afterwards.
    neighbours, neighbour_weight : neighbourhood reconstruction (``neighbours.py``): each code also
        decodes the mean target of its document's ``neighbours`` nearest training documents (cosine
        of X), weighted by ``neighbour_weight``; 0 turns it off. On by default: validation
        precision@100 rose on every corpus measured (Reuters 32 bits 0.814 -> 0.843, 20 Newsgroups
        64 bits 0.524 -> 0.573, docstrings 32 bits 0.196 -> 0.229; ``bench/results/study.md``).
        The graph is exact up to 20,000 documents (seconds for 10^4); above, candidates come from
        SimHash codes in the exact Hamming index and are re-ranked by exact cosine, on
        ``num_threads`` threads (``neighbours.py``, ``bench/results/neighbours.md``).
    init_steps, init_weight : warm start, used only when ``fit`` gets ``init_codes`` (e.g. PCA-ITQ's
        codes of X): the binary cross-entropy of the encoder's bits against them, weighted
        ``init_weight`` at the first step and fading linearly to 0 at step ``init_steps``. Started
        from PCA-ITQ's codes NASH gained +0.015 to +0.019 test precision@100 on four Reuters
        preparations at 32 bits (``bench/results/transfer.md``); ``hasher="auto"`` passes them.

    Notes
    -----
    The defaults (batch 256, lr 2e-3, 10 neighbours) are the setting that did best across Reuters,
    20 Newsgroups, the docstring corpus and a user CSV on validation data (``bench/study_defaults.py``);
    batch 256 also trains about twice as fast on a CPU as batch 64.
    """

    _parameter_constraints = {
        **BaseHasher._parameter_constraints,
        "variant": Options(*VARIANTS),
        "noise_form": Options(*NOISE_FORMS),
        "noise_sigma": Real(),  # > 0 unless variant="nash": checked in _check_params
        "gamma": Real(0.0, 1.0, closed="neither"),
        "alpha": Real(0.0),
        "neighbours": Integer(low=0, note=" (0 turns the term off)"),
        "neighbour_weight": Real(0.0),
        "init_steps": Integer(low=0),
        "init_weight": Real(0.0),
        "input_norm": Options(*INPUT_NORMS),
    }

    def __init__(self, nbits: int = 32, variant: str = "nash-dn", supervised: bool = False,
                 hidden: Sequence[int] = (500, 500), dropout: float = 0.1,
                 noise_sigma: float = 0.2, noise_form: str = "per-bit", noise_kl: bool = False,
                 decoder: str = "auto", target: str = "presence", gamma: float = 0.5,
                 kl_weight: float = 1.0, kl_anneal_steps: int = 0, alpha: float = 1.0,
                 label_hidden: int = 500, distortion_weight: Optional[float] = None,
                 epochs: int = 100, batch_size: int = 256, lr: float = 2e-3, patience: int = 6,
                 grad_clip: Optional[float] = 10.0, eval_k: int = 100, seed: int = 0,
                 device: Union[str, torch.device] = "auto", verbose: bool = True,
                 num_threads: Optional[int] = None, neighbours: int = 10,
                 neighbour_weight: float = 1.0, init_steps: int = 300, init_weight: float = 1.0,
                 input_norm: str = "auto") -> None:
        self._store_params(locals())
        self.hidden = hidden if isinstance(hidden, str) else tuple(hidden)  # a string is refused in fit

    def _check_params(self) -> None:
        if self.variant != "nash" and not self.noise_sigma > 0:  # plain NASH adds no noise
            raise ValueError(f"noise_sigma must be > 0 for variant {self.variant!r}, got {self.noise_sigma!r}")

    def build_net(self, n_features: int, n_labels: int) -> nn.Module:
        return NASHNet(n_features, int(self.nbits), self.hidden, float(self.dropout),
                       self.variant, float(self.noise_sigma), self.noise_form, self.decoder_,
                       self.target, float(self.gamma), self.distortion_weight_,
                       n_labels=n_labels, multilabel=bool(self.multilabel_),
                       label_hidden=int(self.label_hidden), noise_kl=bool(self.noise_kl),
                       neighbour_weight=float(self.neighbour_weight),
                       row_norm=getattr(self, "input_norm_", "none") == "l2")

    def _neighbour_targets(self, X: ArrayLike) -> Optional[NeighbourTargets]:
        """The neighbour graph of the training documents (None when ``neighbours`` is 0)."""
        if not self.neighbours or not self.neighbour_weight:
            return None
        k = min(int(self.neighbours), X.shape[0] - 1)
        if k < 1:
            return None
        graph = nearest_neighbours(X, k, num_threads=self.num_threads, seed=int(self.seed),
                                   verbose=bool(self.verbose))
        return NeighbourTargets(X, graph, self.target)

    def _thresholds(self, X: ArrayLike) -> np.ndarray:
        """Bits are 1 where the logit is positive (h > 0.5): a zero threshold on logits."""
        return np.zeros(int(self.nbits), dtype=np.float32)
