"""Hashers behind one interface: NASH (torch) or a classic baseline (numpy), chosen by name.

A hasher turns TF-IDF rows into packed codes (``fit(X)``, ``encode(X)``). This module is the
registry of hasher names, creates and trains hashers, and holds a trained one as
:class:`TrainedHasher`, which saves and loads itself (:mod:`nash_index.text.hasher_io`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from .hasher_io import load_hasher, save_hasher

__all__ = ["AUTO_HASHER", "HASHERS", "TrainedHasher", "canonical_hasher", "display_name", "encoder_of", "fit_hasher",
           "make_hasher"]

#: Accepted names -> canonical name (the kinds a hasher is trained, saved and loaded as).
HASHERS = {"nash": "nash", "lsh": "lsh", "sph": "sph", "spectral": "sph", "sth": "sth",
           "itq": "itq", "pca-itq": "itq", "pcaitq": "itq"}
_BASELINE_KEYS = {"lsh": "LSH", "sph": "SpH", "sth": "STH", "itq": "PCA-ITQ"}
_DISPLAY_NAMES = {"nash": "NASH", **_BASELINE_KEYS}
#: Not a hasher but a choice between NASH and PCA-ITQ by validation precision
#: (:mod:`nash_index.text.auto_select`); a pipeline saves the kind it kept.
AUTO_HASHER = "auto"


def canonical_hasher(name: str) -> str:
    """``"NASH"`` -> ``"nash"``, ``"PCA-ITQ"`` -> ``"itq"``, ``"auto"`` -> ``"auto"``; ValueError
    for unknown names."""
    key = str(name).strip().lower()
    if key == AUTO_HASHER:
        return AUTO_HASHER
    if key not in HASHERS:
        raise ValueError(f"unknown hasher {name!r}; choose one of {sorted(set(HASHERS.values()))} or {AUTO_HASHER!r}")
    return HASHERS[key]


def display_name(kind: str) -> str:
    """How reports name a hasher kind: ``"itq"`` -> ``"PCA-ITQ"`` (an unknown kind: upper case)."""
    return _DISPLAY_NAMES.get(kind, kind.upper())


def make_hasher(name: str, nbits: int, params: Optional[Dict[str, Any]] = None, seed: int = 0,
                verbose: bool = True) -> Any:
    """An unfitted hasher. ``params`` go to the constructor (e.g. ``variant``, ``epochs``)."""
    kind = canonical_hasher(name)
    if kind == AUTO_HASHER:
        raise ValueError("hasher 'auto' is a choice between hashers, not one hasher: train it with "
                         "nash_index.text.auto_select.select_hasher (or HashingPipeline(hasher='auto'))")
    params = dict(params or {})
    if kind == "nash":
        from ..models import NASH  # imports torch

        params.setdefault("seed", seed)
        params.setdefault("verbose", verbose)
        cls: Any = NASH
    else:
        from ..baselines import BASELINES

        params.setdefault("random_state", seed)
        cls = BASELINES[_BASELINE_KEYS[kind]]
    try:
        return cls(nbits=nbits, **params)
    except TypeError as exc:  # an unknown or duplicated parameter name
        raise TypeError(f"hasher_params do not fit the {kind!r} hasher: {exc}") from None


def fit_hasher(hasher: Any, X: Any, y: Optional[Any] = None, X_val: Any = None,
               y_val: Optional[Any] = None) -> Any:
    """Trains ``hasher``; labels and validation data are used by NASH (model selection) only."""
    if _is_nash(hasher):
        hasher.fit(X, y, X_val=X_val, y_val=y_val if X_val is not None else None)
    else:
        hasher.fit(X)
    return hasher


def encoder_of(hasher: Any) -> Any:
    """The object whose ``encode(X)`` the pipeline calls: NASH's numpy export, else the hasher."""
    return hasher.export_numpy_encoder() if _is_nash(hasher) else hasher


def _is_nash(hasher: Any) -> bool:
    return hasattr(hasher, "export_numpy_encoder")


@dataclass
class TrainedHasher:
    """A fitted hasher as a pipeline holds it.

    ``model`` is what trains (None when a NASH pipeline was loaded torch-free), ``encoder`` what
    encodes (NASH's numpy export, else the baseline itself); ``model_files`` keep the bytes of a
    torch model that was not loaded, so that saving again keeps it.
    """

    kind: str
    model: Any
    encoder: Any
    model_files: Dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def train(cls, kind: str, nbits: int, params: Optional[Dict[str, Any]], seed: int, verbose: bool,
              X: Any, y: Any = None, X_val: Any = None, y_val: Any = None) -> "TrainedHasher":
        """Creates hasher ``kind`` and fits it (labels and validation data: NASH only)."""
        model = fit_hasher(make_hasher(kind, nbits, params, seed, verbose), X, y, X_val, y_val)
        return cls(canonical_hasher(kind), model, encoder_of(model))

    def save(self, out: Path) -> Dict[str, Any]:
        """Writes the hasher's files into directory ``out``; returns its manifest entry."""
        return save_hasher(self.kind, self.model, self.encoder, out, self.model_files)

    @classmethod
    def load(cls, entry: Dict[str, Any], src: Path, use_torch: bool = False) -> "TrainedHasher":
        """Inverse of :meth:`save` (the torch model is loaded only with ``use_torch=True``)."""
        model, encoder, files = load_hasher(entry, src, use_torch)
        return cls(str(entry["kind"]), model, encoder, files)
