"""What a registered hasher is: :class:`HasherSpec`, the one object that knows a hasher's names,
its class, the extra it needs, what its ``fit`` takes and how its files are written and read.

Two kinds share the work: :class:`~nash_index.text.neural_spec.NeuralSpec` (torch models of
``nash_index.models``) and :class:`~nash_index.text.baseline_spec.BaselineSpec` (numpy baselines
of ``nash_index.baselines``); :mod:`nash_index.text.registry` lists the instances.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, Tuple

__all__ = ["HasherSpec"]


@dataclass(frozen=True)
class HasherSpec:
    """One hasher: ``name`` is what manifests store, ``display`` what reports print, ``aliases``
    other names a user may type; ``source`` is ``"module:Class"`` inside the kind's package,
    imported on first use (a neural hasher's module imports torch); a kind whose package lists
    its classes itself leaves it empty."""

    name: str
    display: str
    source: str = ""
    aliases: Tuple[str, ...] = ()

    #: Set by each kind: the package holding ``source``, the extra that installs what it imports
    #: (``requires``: top-level modules), whether ``fit`` takes labels and validation rows, the
    #: constructor argument that takes the seed.
    package: ClassVar[str] = ""
    extra: ClassVar[str] = "train"
    requires: ClassVar[Tuple[str, ...]] = ()
    neural: ClassVar[bool] = False
    uses_labels: ClassVar[bool] = False
    uses_validation: ClassVar[bool] = False
    seed_param: ClassVar[str] = "random_state"

    # ---- the class ----------------------------------------------------------------------
    def hasher_class(self) -> type:
        """The hasher's class; ImportError naming the extra to install when a module it needs is
        missing."""
        try:
            return self._find_class()
        except ImportError as exc:  # ModuleNotFoundError, or a module that refuses to import
            missing = (exc.name or "").partition(".")[0]
            if missing not in self.requires:
                raise
            raise ImportError(f"hasher {self.name!r} needs {missing}, which is not installed: "
                              f"pip install nash_index[{self.extra}]") from exc

    def _find_class(self) -> type:
        module, _, attribute = self.source.partition(":")
        return getattr(importlib.import_module(f"{self.package}.{module}"), attribute)

    def param_names(self) -> Tuple[str, ...]:
        """The constructor's parameter names (what ``hasher_params`` may hold)."""
        return tuple(inspect.signature(self.hasher_class()).parameters)

    def owns(self, hasher: Any) -> bool:
        """Whether ``hasher`` is an instance of this spec's class."""
        return isinstance(hasher, self.hasher_class())

    # ---- training -----------------------------------------------------------------------
    def make(self, nbits: int, params: Optional[Dict[str, Any]], seed: int, verbose: bool) -> Any:
        """An unfitted hasher; ``params`` go to the constructor, ``seed`` (and for neural hashers
        ``verbose``) unless ``params`` sets them."""
        params = dict(params or {})
        params.setdefault(self.seed_param, seed)
        self._default_params(params, verbose)
        cls = self.hasher_class()
        try:
            return cls(nbits=nbits, **params)
        except TypeError as exc:  # an unknown or duplicated parameter name
            raise TypeError(f"hasher_params do not fit the {self.name!r} hasher: {exc}") from None

    def _default_params(self, params: Dict[str, Any], verbose: bool) -> None:
        """Fills defaults the pipeline decides for this kind (none by default)."""

    def fit(self, hasher: Any, X: Any, y: Any = None, X_val: Any = None, y_val: Any = None) -> Any:
        """Trains ``hasher`` with what its ``fit`` uses (labels, validation rows) and returns it."""
        args = (X, y) if self.uses_labels else (X,)
        if self.uses_validation:
            hasher.fit(*args, X_val=X_val, y_val=y_val if X_val is not None else None)
        else:
            hasher.fit(*args)
        return hasher

    def encoder_of(self, hasher: Any) -> Any:
        """What encodes for a pipeline (the hasher itself unless the kind says otherwise)."""
        return hasher

    # ---- files (each kind) --------------------------------------------------------------
    def save(self, hasher: Any, encoder: Any, out: Path, model_files: Optional[Dict[str, bytes]] = None) -> Dict[str, Any]:
        """Writes the hasher's files into directory ``out``; returns its manifest entry."""
        raise NotImplementedError

    def load(self, entry: Dict[str, Any], src: Path, use_torch: bool = False) -> tuple:
        """``(model or None, encoder, model_files)`` from the files :meth:`save` wrote."""
        raise NotImplementedError

    def files(self, entry: Dict[str, Any]) -> List[str]:
        """The member files the manifest entry points to (relative to the pipeline directory)."""
        raise NotImplementedError

    def check_torch_load(self, entry: Dict[str, Any], src: Path) -> None:
        """ValueError when ``load(..., use_torch=True)`` cannot give the trainable model."""
