"""Hashers behind one interface, chosen by name from the registry (:mod:`nash_index.text.registry`).

A hasher turns TF-IDF rows (or dense vectors) into packed codes (``fit(X)``, ``encode(X)``). This
module creates and trains hashers, and holds a trained one as :class:`TrainedHasher`, which saves
and loads itself through its spec (each spec knows its files: :mod:`nash_index.text.neural_spec`,
:mod:`nash_index.text.baseline_spec`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from .registry import AUTO_HASHER, HASHERS, canonical_hasher, display_name, entry_spec, hasher_spec, spec_of

__all__ = ["AUTO_HASHER", "HASHERS", "TrainedHasher", "canonical_hasher", "display_name", "encoder_of", "fit_hasher",
           "make_hasher"]


def make_hasher(name: str, nbits: int, params: Optional[Dict[str, Any]] = None, seed: int = 0,
                verbose: bool = True) -> Any:
    """An unfitted hasher. ``params`` go to the constructor (e.g. ``variant``, ``epochs``)."""
    return hasher_spec(name).make(nbits, params, seed, verbose)


def fit_hasher(hasher: Any, X: Any, y: Optional[Any] = None, X_val: Any = None,
               y_val: Optional[Any] = None) -> Any:
    """Trains ``hasher``; labels and validation data go to the hashers whose spec uses them
    (the neural ones: model selection and early stopping)."""
    return spec_of(hasher).fit(hasher, X, y, X_val, y_val)


def encoder_of(hasher: Any) -> Any:
    """The object whose ``encode(X)`` the pipeline calls: a neural hasher's numpy export, else the hasher."""
    return spec_of(hasher).encoder_of(hasher)


@dataclass
class TrainedHasher:
    """A fitted hasher as a pipeline holds it.

    ``model`` is what trains (None when a neural pipeline was loaded torch-free), ``encoder`` what
    encodes (a neural hasher's numpy export, else the baseline itself); ``model_files`` keep the
    bytes of a torch model that was not loaded, so that saving again keeps it.
    """

    kind: str
    model: Any
    encoder: Any
    model_files: Dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def train(cls, kind: str, nbits: int, params: Optional[Dict[str, Any]], seed: int, verbose: bool,
              X: Any, y: Any = None, X_val: Any = None, y_val: Any = None,
              init_codes: Any = None) -> "TrainedHasher":
        """Creates hasher ``kind`` and fits it (labels and validation data: if its spec uses them;
        ``init_codes``, codes of X to start from: a neural hasher's warm start)."""
        spec = hasher_spec(kind)
        model = spec.make(nbits, params, seed, verbose)
        if init_codes is None:
            model = spec.fit(model, X, y, X_val, y_val)
        else:
            model = spec.fit(model, X, y, X_val, y_val, init_codes=init_codes)
        return cls(spec.name, model, spec.encoder_of(model))

    def save(self, out: Path) -> Dict[str, Any]:
        """Writes the hasher's files into directory ``out``; returns its manifest entry."""
        return hasher_spec(self.kind).save(self.model, self.encoder, out, self.model_files)

    @classmethod
    def load(cls, entry: Dict[str, Any], src: Path, use_torch: bool = False) -> "TrainedHasher":
        """Inverse of :meth:`save` (a torch model is loaded only with ``use_torch=True``)."""
        model, encoder, files = entry_spec(entry).load(entry, src, use_torch)
        return cls(str(entry["kind"]), model, encoder, files)
