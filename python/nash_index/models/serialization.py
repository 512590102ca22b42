"""Save / load fitted estimators: ``config.json`` (parameters + fitted state) + ``weights.pt``."""
from __future__ import annotations

import io
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
            "input_norm": getattr(est, "input_norm_", "none"),
        },
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.detach().cpu() for k, v in est.net_.state_dict().items()}
    torch.save(state, out / "weights.pt")


def load_estimator(cls, path: str | os.PathLike, device: str = "auto"):
    """Inverse of ``save_estimator``; ``cls`` must match the saved class.

    A malformed ``config.json`` (not JSON, missing keys, wrong types, thresholds of the wrong
    length) or ``weights.pt`` raises ValueError naming the file and the entry.
    """
    src = Path(path)
    config_path = src / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no config.json in {src}")
    config = read_config(config_path, cls.__name__)
    params = dict(config["params"])
    params["device"] = device
    try:
        est = cls(**params)
        est._validate_params()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{config_path}: invalid 'params': {exc}") from None
    fitted = config["fitted"]
    est.n_features_ = fitted["n_features"]
    est.decoder_ = fitted["decoder"]
    est.distortion_weight_ = float(fitted["distortion_weight"])
    est.multilabel_ = fitted["multilabel"]
    try:
        est.classes_ = None if fitted["classes"] is None else np.asarray(fitted["classes"])
        est.thresholds_ = np.asarray(fitted["thresholds"], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{config_path}: 'fitted.classes' or 'fitted.thresholds' is malformed: {exc}") from None
    if est.thresholds_.shape != (int(est.nbits),) or not np.all(np.isfinite(est.thresholds_)):
        raise ValueError(f"{config_path}: 'fitted.thresholds' must be {est.nbits} finite numbers (one per bit), "
                         f"got shape {est.thresholds_.shape}")
    est.input_norm_ = fitted.get("input_norm", "none")  # absent from files written before it existed
    est.device_ = select_device(device)
    n_labels = 0 if est.classes_ is None else len(est.classes_)
    est.net_ = est.build_net(est.n_features_, n_labels)
    weights_path = src / "weights.pt"
    data = weights_path.read_bytes()  # I/O errors stay OSError; torch reports damage as OSError too
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        est.net_.load_state_dict(state)
    except Exception as exc:  # untrusted bytes: truncated zip, bit flips, weights of another shape
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(f"{weights_path}: not the weights of this model ({type(exc).__name__}: {detail})") from None
    est.net_.to(est.device_).eval()
    return est


#: The fitted state ``config.json`` must hold, with the type of each entry.
_FITTED = {"n_features": int, "decoder": str, "distortion_weight": (int, float), "multilabel": bool,
           "classes": (list, type(None)), "thresholds": list}


def read_config(config_path: Path, class_name: str) -> dict:
    """The parsed ``config.json`` of a saved model, every entry present and of the right type."""
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{config_path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must hold a JSON object, got {type(config).__name__}")
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ValueError(f"{config_path} is not a {FORMAT} v{VERSION} model")
    if config.get("class") != class_name:
        raise ValueError(f"{config_path.parent} holds a {config.get('class')}, not a {class_name}")
    for key in ("params", "fitted"):
        if not isinstance(config.get(key), dict):
            raise ValueError(f"{config_path}: '{key}' must be an object, got {type(config.get(key)).__name__}")
    fitted = config["fitted"]
    for key, kind in _FITTED.items():
        if key not in fitted:
            raise ValueError(f"{config_path}: 'fitted.{key}' is missing")
        value = fitted[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"{config_path}: 'fitted.{key}' has the wrong type ({type(value).__name__})")
    if fitted["n_features"] <= 0 or fitted["decoder"] not in ("softmax", "gaussian"):
        raise ValueError(f"{config_path}: 'fitted.n_features' must be positive and 'fitted.decoder' softmax or "
                         f"gaussian, got {fitted['n_features']} and {fitted['decoder']!r}")
    if fitted.get("input_norm", "none") not in ("l2", "none"):
        raise ValueError(f"{config_path}: 'fitted.input_norm' must be 'l2' or 'none', got {fitted['input_norm']!r}")
    return config
