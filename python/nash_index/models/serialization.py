"""Save / load fitted estimators: ``config.json`` (parameters + fitted state) + ``weights.pt``."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .training import select_device

FORMAT = "nash_index.models"
VERSION = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_estimator(est, path: str | os.PathLike) -> None:
    """Write the estimator's parameters, fitted state and weights into directory ``path``."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT, "version": VERSION, "class": type(est).__name__,
        "params": {k: _jsonable(v) for k, v in est.get_params().items()},
        "fitted": {
            "n_features": int(est.n_features_), "decoder": est.decoder_,
            "distortion_weight": float(est.distortion_weight_),
            "multilabel": bool(est.multilabel_),
            "classes": None if est.classes_ is None else np.asarray(est.classes_).tolist(),
            "thresholds": est.thresholds_.tolist(),
        },
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.detach().cpu() for k, v in est.net_.state_dict().items()}
    torch.save(state, out / "weights.pt")


def load_estimator(cls, path: str | os.PathLike, device: str = "auto"):
    """Inverse of ``save_estimator``; ``cls`` must match the saved class."""
    src = Path(path)
    config_path = src / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no config.json in {src}")
    config = json.loads(config_path.read_text())
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ValueError(f"{config_path} is not a {FORMAT} v{VERSION} model")
    if config["class"] != cls.__name__:
        raise ValueError(f"{src} holds a {config['class']}, not a {cls.__name__}")
    params = dict(config["params"])
    params["device"] = device
    est = cls(**params)
    fitted = config["fitted"]
    est.n_features_ = fitted["n_features"]
    est.decoder_ = fitted["decoder"]
    est.distortion_weight_ = fitted["distortion_weight"]
    est.multilabel_ = fitted["multilabel"]
    est.classes_ = None if fitted["classes"] is None else np.asarray(fitted["classes"])
    est.thresholds_ = np.asarray(fitted["thresholds"], dtype=np.float32)
    est.device_ = select_device(device)
    n_labels = 0 if est.classes_ is None else len(est.classes_)
    est.net_ = est.build_net(est.n_features_, n_labels)
    state = torch.load(src / "weights.pt", map_location="cpu", weights_only=True)
    est.net_.load_state_dict(state)
    est.net_.to(est.device_).eval()
    return est
