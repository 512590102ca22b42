"""Random hyper-parameter search scored on validation precision@k (never on test data)."""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from ..checks import check_int
from .base import BaseHasher

Space = Mapping[str, Union[Sequence[Any], Callable[[np.random.Generator], Any]]]


def sample_params(space: Space, rng: np.random.Generator) -> dict[str, Any]:
    """One draw: a uniform choice from each list, or ``fn(rng)`` for callables."""
    params = {}
    for name, choices in space.items():
        if callable(choices):
            params[name] = choices(rng)
        else:
            if isinstance(choices, (str, bytes)) or not hasattr(choices, "__len__"):
                raise TypeError(f"search space for {name!r} must be a list of choices or a callable, got "
                                f"{type(choices).__name__} {choices!r} (wrap one value in a list)")
            if len(choices) == 0:
                raise ValueError(f"search space for {name!r} is empty")
            params[name] = choices[int(rng.integers(len(choices)))]
    return params


def random_search(estimator: BaseHasher, space: Space, X, y, X_val, y_val,
                  n_trials: int = 20, seed: int = 0,
                  log: Optional[Callable[[dict], None]] = None) -> tuple[BaseHasher, list[dict]]:
    """Fit ``n_trials`` copies of ``estimator`` with parameters drawn from ``space``.

    Every trial early-stops on, and is ranked by, the validation precision@``eval_k`` of X_val
    against X. Returns the best fitted estimator and all trials (params, score, seconds),
    best first. ``log`` is called with each trial's record as it finishes.
    """
    if X_val is None or y is None or y_val is None:
        raise ValueError("random_search needs y, X_val and y_val (it ranks by validation "
                         "precision)")
    if check_int(n_trials, "n_trials") <= 0:
        raise ValueError(f"n_trials must be positive, got {n_trials}")
    rng = np.random.default_rng(seed)
    base = estimator.get_params()
    unknown = sorted(set(space) - set(base))
    if unknown:
        raise ValueError(f"search space names unknown parameters of {type(estimator).__name__}: {unknown}")
    best, best_score, trials = None, float("-inf"), []
    for trial in range(n_trials):
        params = sample_params(space, rng)
        model = type(estimator)(**{**base, **params})
        t0 = time.perf_counter()
        model.fit(X, y, X_val, y_val)
        record = {"trial": trial, "params": params, "score": model.result_.best_score,
                  "epoch": model.result_.best_epoch, "seconds": time.perf_counter() - t0}
        trials.append(record)
        if log is not None:
            log(record)
        if best is None or _rank(record) > best_score:  # a NaN score never wins, yet a model is returned
            best, best_score = model, _rank(record)
    trials.sort(key=lambda r: -_rank(r))
    return best, trials


def _rank(record: dict) -> float:
    """A trial's score for ranking: NaN (a diverged trial) ranks last."""
    score = float(record["score"])
    return score if score == score else float("-inf")
