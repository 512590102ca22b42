"""Writing and reading a fitted hasher inside a pipeline directory (no pickle).

* ``nash``: the torch model (``model/``: ``config.json`` + ``weights.pt``, for further training
  or GPU encoding) and its numpy export ``encoder.npz``. Encoding always goes through the numpy
  export, so a loaded pipeline needs neither torch nor a GPU and gives bit-identical codes.
* baselines (``lsh``, ``sph``, ``sth``, ``itq``): their fitted attributes, ``hasher.npz``
  (arrays) + the manifest entry (scalars). Only classes of ``nash_index.baselines`` load.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .arrays import read_npz

__all__ = ["load_hasher", "save_hasher"]

_ALLOWED_PREFIX = "nash_index.baselines."
ENCODER_FILE = "encoder.npz"  # NASH's numpy export
ARRAYS_FILE = "hasher.npz"  # a baseline's fitted arrays


def save_hasher(kind: str, hasher: Any, encoder: Any, out: Path,
                model_files: Optional[Dict[str, bytes]] = None) -> Dict[str, Any]:
    """Writes the hasher into directory ``out``; returns its manifest entry.

    For NASH, ``hasher`` may be None when the pipeline was loaded torch-free: ``model_files``
    (the bytes of the ``model/`` files read at load time) are then written back unchanged.
    """
    if kind == "nash":
        encoder.save(out / ENCODER_FILE)
        model_dir = out / "model"
        if hasher is not None:
            hasher.save(model_dir)
        elif model_files:
            model_dir.mkdir()
            for name, data in model_files.items():
                (model_dir / name).write_bytes(data)
        return {"kind": "nash", "encoder": ENCODER_FILE,
                "model": "model" if (model_dir / "config.json").exists() else None}
    arrays, scalars = _split_state(vars(hasher))
    with open(out / ARRAYS_FILE, "wb") as fh:
        np.savez(fh, **arrays)
    return {"kind": kind, "class": _class_path(type(hasher)), "state": scalars,
            "arrays": ARRAYS_FILE}


def _split_state(state: Dict[str, Any]) -> tuple:
    """Attributes -> (arrays for the .npz, JSON scalars); dataclass attributes (e.g. a PCA
    projection) are stored field by field as ``name.field`` and listed under ``__dataclasses__``."""
    arrays: Dict[str, np.ndarray] = {}
    scalars: Dict[str, Any] = {}
    nested: Dict[str, str] = {}
    for name, value in state.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            nested[name] = _class_path(type(value))
            sub_arrays, sub_scalars = _split_state(
                {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
            arrays.update({f"{name}.{k}": v for k, v in sub_arrays.items()})
            scalars.update({f"{name}.{k}": v for k, v in sub_scalars.items()})
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"cannot save attribute {name!r}: object array")
            arrays[name] = value
        elif isinstance(value, np.generic):
            scalars[name] = value.item()
        else:
            try:
                json.dumps(value)
            except TypeError as exc:
                raise TypeError(f"cannot save hasher attribute {name!r} of type {type(value).__name__}") from exc
            scalars[name] = value
    if nested:
        scalars["__dataclasses__"] = nested
    return arrays, scalars


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: Any, what: str = "class") -> type:
    """A class of ``nash_index.baselines`` named ``module:qualname`` (nothing else is imported)."""
    module_name, _, qualname = str(path).partition(":")
    if not isinstance(path, str) or not module_name.startswith(_ALLOWED_PREFIX):
        raise ValueError(f"refusing to load {what} {path!r} (not part of nash_index.baselines)")
    try:
        obj = getattr(importlib.import_module(module_name), qualname, None)
    except ImportError:
        obj = None
    if not isinstance(obj, type):
        raise ValueError(f"{what} {path!r} does not name a class")
    return obj


def load_hasher(entry: Dict[str, Any], src: Path, use_torch: bool = False) -> tuple:
    """Reads a hasher saved by :func:`save_hasher`.

    Returns ``(hasher or None, encoder, model_files)``: for NASH the torch model is loaded only
    with ``use_torch=True``; otherwise its files are kept as bytes so a later save keeps them.
    A damaged file or manifest entry raises ValueError naming it.
    """
    kind = entry["kind"]
    if kind == "nash":
        from ..models.numpy_encoder import NumpyEncoder  # torch-free

        encoder = NumpyEncoder.load(src / entry["encoder"])
        model_dir = src / entry["model"] if entry.get("model") else None
        files = {p.name: p.read_bytes() for p in sorted(model_dir.iterdir())} if model_dir else {}
        model = None
        if use_torch:
            if model_dir is None:
                raise ValueError(f"{src} holds no torch model (only its numpy export)")
            from ..models import NASH

            model = NASH.load(model_dir)
        return model, encoder, files
    hasher = _restore_baseline(entry, src)
    return hasher, hasher, {}


def _restore_baseline(entry: Dict[str, Any], src: Path) -> Any:
    from ..baselines import HashingBaseline

    cls = _import_class(entry["class"])
    if not issubclass(cls, HashingBaseline):
        raise ValueError(f"{entry['class']!r} is not a hashing baseline")
    obj = cls.__new__(cls)
    state = entry.get("state", {})
    if not isinstance(state, dict):
        raise ValueError(f"the hasher entry's 'state' must be an object, got {type(state).__name__}")
    state = dict(state)
    nested = state.pop("__dataclasses__", {})
    path = src / entry["arrays"]
    state.update(read_npz(path))
    for name, class_path in dict(nested).items():
        dc = _import_class(class_path, "dataclass")
        if not dataclasses.is_dataclass(dc):
            raise ValueError(f"{class_path!r} is not a dataclass")
        prefix = name + "."
        fields = {k[len(prefix):]: state.pop(k) for k in list(state) if k.startswith(prefix)}
        try:
            state[name] = dc(**fields)
        except TypeError as exc:
            raise ValueError(f"{path}: cannot rebuild {name}: {exc}") from None
    obj.__dict__.update(state)
    try:
        obj.check_state()
    except (AttributeError, TypeError, ValueError) as exc:  # AttributeError: a fitted attribute is absent
        raise ValueError(f"{path}: the fitted {cls.__name__} is invalid: {exc}") from None
    return obj
