"""Classic baselines (numpy, ``nash_index.baselines``: LSH, SpH, STH, PCA-ITQ) as pipeline hashers.

Files: the fitted attributes, arrays in ``hasher.npz`` and scalars in the manifest entry (no
pickle). The entry's registered ``kind`` names the class (``nash_index.baselines.BASELINES``) and a
dataclass attribute (PCA-ITQ's projection) by the name ``nash_index.baselines.STATE_CLASSES`` gives it, so
that no module path is stored; entries of release 0.1.0, which stored module paths, still load.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .arrays import read_npz
from .spec import HasherSpec

__all__ = ["ARRAYS_FILE", "BaselineSpec"]

ARRAYS_FILE = "hasher.npz"
_NESTED = "__dataclasses__"  # the scalars' key listing the dataclass attributes
#: What release 0.1.0 stored instead of names: module paths (loadable forever, whatever the
#: modules are called now). Anything else that looks like a path is refused.
_RELEASE_0_1_PATHS = {
    "nash_index.baselines.lsh:LSH": "lsh",
    "nash_index.baselines.sph:SpectralHashing": "sph",
    "nash_index.baselines.sth:STH": "sth",
    "nash_index.baselines.itq:PCAITQ": "itq",
    "nash_index.baselines._pca:Projection": "pca-projection",
}


@dataclass(frozen=True)
class BaselineSpec(HasherSpec):
    """A baseline: ``fit(X)`` only (no labels, no validation), ``random_state`` as the seed."""

    package = "nash_index.baselines"
    requires = ("sklearn", "scipy")

    def save(self, hasher: Any, encoder: Any, out: Path, model_files: Optional[Dict[str, bytes]] = None) -> Dict[str, Any]:
        arrays, scalars = _split_state(vars(hasher))
        with open(out / ARRAYS_FILE, "wb") as fh:
            np.savez(fh, **arrays)
        return {"kind": self.name, "state": scalars, "arrays": ARRAYS_FILE}

    def load(self, entry: Dict[str, Any], src: Path, use_torch: bool = False) -> tuple:
        hasher = self._restore(entry, src)
        return hasher, hasher, {}

    def _find_class(self) -> type:
        return importlib.import_module(self.package).BASELINES[self.name]  # the one list of baseline classes

    def files(self, entry: Dict[str, Any]) -> List[str]:
        return [entry["arrays"]]

    def _restore(self, entry: Dict[str, Any], src: Path) -> Any:
        """The fitted baseline of ``entry`` and its arrays; ValueError naming what is wrong."""
        named = _registered_name(entry.get("class", self.name), "hasher class")
        if named != self.name:
            raise ValueError(f"the hasher entry's class {entry['class']!r} is not a hashing baseline of kind {self.name!r}")
        state = entry.get("state", {})
        if not isinstance(state, dict):
            raise ValueError(f"the hasher entry's 'state' must be an object, got {type(state).__name__}")
        state = dict(state)
        nested = state.pop(_NESTED, {})
        path = src / entry["arrays"]
        state.update(read_npz(path))
        for name, saved_as in dict(nested).items():
            prefix = name + "."
            fields = {k[len(prefix):]: state.pop(k) for k in list(state) if k.startswith(prefix)}
            try:
                state[name] = _state_class(saved_as)(**fields)
            except TypeError as exc:
                raise ValueError(f"{path}: cannot rebuild {name}: {exc}") from None
        cls = self.hasher_class()
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        try:
            obj.check_state()
        except (AttributeError, TypeError, ValueError) as exc:  # AttributeError: a fitted attribute is absent
            raise ValueError(f"{path}: the fitted {cls.__name__} is invalid: {exc}") from None
        return obj


def _registered_name(saved: Any, what: str) -> str:
    """A name as a manifest stores it: a registered name, or a path of release 0.1.0 mapped to one."""
    if not isinstance(saved, str):
        raise ValueError(f"{what} must be a name, got {saved!r}")
    if ":" not in saved:
        return saved
    if not saved.startswith("nash_index.baselines."):
        raise ValueError(f"refusing to load {what} {saved!r} (not part of nash_index.baselines)")
    if saved not in _RELEASE_0_1_PATHS:
        raise ValueError(f"{what} {saved!r} does not name a class that a saved pipeline may hold")
    return _RELEASE_0_1_PATHS[saved]


def _state_class(saved: Any) -> type:
    """The dataclass a manifest names (``nash_index.baselines.STATE_CLASSES``)."""
    from ..baselines import STATE_CLASSES

    name = _registered_name(saved, "dataclass")
    if name not in STATE_CLASSES:
        raise ValueError(f"dataclass {saved!r} is not one of {sorted(STATE_CLASSES)}")
    return STATE_CLASSES[name]


def _state_name(cls: type) -> str:
    from ..baselines import STATE_CLASSES

    names = [name for name, registered in STATE_CLASSES.items() if registered is cls]
    if not names:
        raise TypeError(f"cannot save a {cls.__name__}: not in nash_index.baselines.STATE_CLASSES")
    return names[0]


def _split_state(state: Dict[str, Any]) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Attributes -> (arrays for the .npz, JSON scalars); dataclass attributes (e.g. a PCA
    projection) are stored field by field as ``name.field`` and listed under ``__dataclasses__``."""
    arrays: Dict[str, np.ndarray] = {}
    scalars: Dict[str, Any] = {}
    nested: Dict[str, str] = {}
    for name, value in state.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            nested[name] = _state_name(type(value))
            sub_arrays, sub_scalars = _split_state({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
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
        scalars[_NESTED] = nested
    return arrays, scalars
