"""The training loop: Adam, mini-batches, KL annealing, early stopping, progress bar."""
from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import numpy as np
import torch
from torch import nn

from .batching import ArrayLike, batch_size_of, iterate_batches
from .neighbours import NeighbourTargets


@dataclass
class TrainConfig:
    """Optimisation settings shared by every estimator."""

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 6
    kl_weight: float = 1.0
    kl_anneal_steps: int = 0
    alpha: float = 1.0
    grad_clip: Optional[float] = 10.0
    seed: int = 0
    verbose: bool = True
    #: Early stopping waits for this many optimiser steps: a fresh encoder can sit collapsed (all
    #: documents on a few codes, a flat or falling validation score) for a few hundred steps before
    #: its bits split. Reuters at 8 bits, batch 256: flat for 9 epochs (250 steps), then 0.28 -> 0.77;
    #: patience alone stopped two of three seeds at epoch 7 with 0.24-0.28.
    min_steps: int = 500
    #: Warm start (``fit(init_codes=...)``): the pull of the encoder's logits towards the given
    #: codes, ``init_weight`` at step 0 fading linearly to 0 at ``init_steps``.
    init_steps: int = 0
    init_weight: float = 1.0


@dataclass
class TrainResult:
    """What happened during ``fit``: per-epoch records and the kept (best) epoch."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")
    criterion: str = "none"
    seconds: float = 0.0


def select_device(device: Union[str, torch.device, None]) -> torch.device:
    """``"auto"``/None picks CUDA when available, else CPU; anything else is used as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but CUDA is not available")
    return dev


def kl_weight_at(step: int, cfg: TrainConfig) -> float:
    """Linear KL warm-up from 0 to ``cfg.kl_weight`` over ``cfg.kl_anneal_steps`` steps."""
    if cfg.kl_anneal_steps <= 0:
        return cfg.kl_weight
    return cfg.kl_weight * min(1.0, step / cfg.kl_anneal_steps)


def init_weight_at(step: int, cfg: TrainConfig) -> float:
    """The warm start's weight at ``step``: linear from ``cfg.init_weight`` to 0 at ``cfg.init_steps``."""
    if cfg.init_steps <= 0 or step >= cfg.init_steps:
        return 0.0
    return cfg.init_weight * (1.0 - step / cfg.init_steps)


def _targets(y: Optional[torch.Tensor], rows: np.ndarray, device: torch.device):
    return None if y is None else y[torch.from_numpy(rows)].to(device)


def mean_loss(net: nn.Module, X: ArrayLike, y: Optional[torch.Tensor], cfg: TrainConfig,
              device: torch.device) -> float:
    """Deterministic (eval-mode) objective averaged over the documents of X."""
    net.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for rows, batch in iterate_batches(X, 4096):
            loss, _ = net.loss(batch.to(device), _targets(y, rows, device), cfg.kl_weight,
                               cfg.alpha)
            total += float(loss) * len(rows)
            n += len(rows)
    return total / n


def _run_epoch(net: nn.Module, opt: torch.optim.Optimizer, X: ArrayLike,
               y: Optional[torch.Tensor], cfg: TrainConfig, device: torch.device,
               rng: np.random.Generator, step: int, epoch: int,
               neighbours: Optional[NeighbourTargets] = None,
               init_bits: Optional[torch.Tensor] = None) -> tuple[float, int]:
    """One pass over X in random order; returns (mean training loss, new global step)."""
    net.train()
    total, n = 0.0, 0
    for rows, batch in iterate_batches(X, cfg.batch_size, rng.permutation(X.shape[0])):
        extra = {} if neighbours is None else {"x_neighbours": neighbours.batch(rows).to(device)}
        weight = init_weight_at(step, cfg)
        if init_bits is not None and weight > 0:
            extra.update(init_bits=init_bits[torch.from_numpy(rows)].to(device), init_weight=weight)
        loss, _ = net.loss(batch.to(device), _targets(y, rows, device),
                           kl_weight_at(step, cfg), cfg.alpha, **extra)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss ({float(loss.detach())}) at epoch {epoch}, step {step}; "
                "try a lower learning rate, gradient clipping, or check X for extreme values")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            clip_gradients(net, cfg.grad_clip)
        opt.step()
        step += 1
        total += float(loss.detach()) * batch_size_of(batch)
        n += batch_size_of(batch)
    return total / n, step


def clip_gradients(net: nn.Module, max_norm: float) -> None:
    """``nn.utils.clip_grad_norm_``, bitwise, without its multiply by 1.0 when the norm is within
    bounds: on the CPU that multiply over the first layer's 5M gradients took 1.4 ms of a ~20 ms
    step (Reuters). On other devices (where the comparison would sync each step) torch's own runs."""
    params = [p for p in net.parameters() if p.grad is not None]
    within = getattr(nn.utils, "get_total_norm", None)
    if not params or within is None or params[0].grad.device.type != "cpu":
        nn.utils.clip_grad_norm_(params, max_norm)
        return
    total = nn.utils.get_total_norm([p.grad for p in params])
    if float(total) + 1e-6 > max_norm:  # torch's coefficient max_norm / (total + 1e-6) is then below 1
        nn.utils.clip_grads_with_norm_(params, max_norm, total)


def _adam(net: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, fused when the build supports it: the unfused update of the 10k x 500 input
    layer costs more than the forward and backward passes together on CPU."""
    try:
        return torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(net.parameters(), lr=lr)


def _progress(cfg: TrainConfig):
    """A tqdm bar over epochs (a plain range when verbose is off, tqdm is missing, or there is no
    stderr to draw it on: pythonw, a service with fd 2 closed, where tqdm would fail)."""
    if not cfg.verbose or sys.stderr is None or getattr(sys.stderr, "closed", False):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=cfg.epochs, desc="fit", unit="epoch", leave=False)


def train(net: nn.Module, X: ArrayLike, y: Optional[torch.Tensor], cfg: TrainConfig,
          device: torch.device, scorer: Optional[Callable[[], float]] = None,
          loss_data: Optional[tuple[ArrayLike, Optional[torch.Tensor]]] = None,
          neighbours: Optional[NeighbourTargets] = None,
          init_bits: Optional[torch.Tensor] = None) -> TrainResult:
    """Train ``net`` in place and restore the best epoch's weights.

    Model selection: ``scorer()`` (higher is better, e.g. validation precision@100) when given,
    else minus the eval-mode loss on ``loss_data``; with neither, every epoch runs and the last
    one is kept. The validation loss is recorded in the history whenever ``loss_data`` is given.
    ``neighbours`` adds the neighbourhood reconstruction term to the training loss (not to the
    validation loss, which has no neighbour graph). ``init_bits`` (n, nbits) 0/1 of X's rows: the
    warm start's codes (``cfg.init_steps``).
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = _adam(net, cfg.lr)
    result = TrainResult(criterion="score" if scorer else ("val_loss" if loss_data else "none"))
    best_state, stale, step = None, 0, 0
    bar = _progress(cfg)
    t0 = time.perf_counter()
    try:
        for epoch in range(1, cfg.epochs + 1):
            train_loss, step = _run_epoch(net, opt, X, y, cfg, device, rng, step, epoch, neighbours, init_bits)
            record = {"epoch": epoch, "loss": train_loss}
            if loss_data is not None:
                record["val_loss"] = mean_loss(net, loss_data[0], loss_data[1], cfg, device)
            if scorer is not None:
                score = record["val_score"] = scorer()
            else:
                score = -record["val_loss"] if loss_data is not None else float(epoch)
            record["seconds"] = time.perf_counter() - t0
            result.history.append(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{score:.4f}")
            if score > result.best_score:
                result.best_score, result.best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
                if stale >= cfg.patience and step >= cfg.min_steps:
                    break
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    result.seconds = time.perf_counter() - t0
    return result
