"""The hasher registry: one :class:`~nash_index.text.spec.HasherSpec` per hasher that a
pipeline can train, save and load, and the lookups by name.

Adding a hasher is one line in :data:`SPECS` (and its class): the pipeline, the CLI's
``--hasher`` and the saved files follow from the spec. A manifest stores the canonical name.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .baseline_spec import BaselineSpec
from .neural_spec import NeuralSpec
from .spec import HasherSpec

__all__ = ["AUTO_CANDIDATES", "AUTO_HASHER", "DEFAULT_HASHER", "HASHERS", "PIPELINE_HASHER", "REGISTRY", "SPECS", "canonical_hasher",
           "display_name", "entry_spec", "hasher_files", "hasher_names", "hasher_spec", "model_spec", "spec_of", "training_spec"]

SPECS = (
    NeuralSpec("nash", "NASH", "nash:NASH"),
    NeuralSpec("vdsh", "VDSH", "vdsh:VDSH"),
    BaselineSpec("lsh", "LSH"),
    BaselineSpec("sph", "SpH", aliases=("spectral",)),
    BaselineSpec("sth", "STH"),
    BaselineSpec("itq", "PCA-ITQ", aliases=("pca-itq", "pcaitq")),
)
#: Canonical name -> spec.
REGISTRY: Dict[str, HasherSpec] = {spec.name: spec for spec in SPECS}
#: Accepted names (lower case) -> canonical name (the kinds a hasher is trained, saved and loaded as).
HASHERS: Dict[str, str] = {alias: spec.name for spec in SPECS for alias in (spec.name, *spec.aliases)}
#: The hasher a pipeline trains unless told otherwise.
DEFAULT_HASHER = "nash"
#: Not a hasher but a choice between the candidates by validation precision
#: (:mod:`nash_index.text.auto_select`); a pipeline saves the kind it kept. The first candidate
#: is trained with the caller's parameters and validation rows and wins a tie.
AUTO_HASHER = "auto"
AUTO_CANDIDATES = (DEFAULT_HASHER, "itq")
#: What ``HashingPipeline(hasher=None)``, its default, trains: the choice, because NASH's lead over
#: PCA-ITQ depends on the preparation and code length (issue #26, ``bench/results/transfer.md``),
#: and a PCA-ITQ fit costs seconds next to NASH's minute. Without validation labels it is NASH.
PIPELINE_HASHER = AUTO_HASHER


def canonical_hasher(name: str) -> str:
    """``"NASH"`` -> ``"nash"``, ``"PCA-ITQ"`` -> ``"itq"``, ``"auto"`` -> ``"auto"``; ValueError
    for unknown names."""
    key = str(name).strip().lower()
    if key == AUTO_HASHER:
        return AUTO_HASHER
    if key not in HASHERS:
        raise ValueError(f"unknown hasher {name!r}; choose one of {hasher_names()} or {AUTO_HASHER!r}")
    return HASHERS[key]


def hasher_spec(name: str) -> HasherSpec:
    """The spec of hasher ``name`` (any accepted spelling); ValueError for ``"auto"``, which is
    a choice between hashers."""
    kind = canonical_hasher(name)
    if kind == AUTO_HASHER:
        raise ValueError("hasher 'auto' is a choice between hashers, not one hasher: train it with "
                         "nash_index.text.auto_select.select_hasher (or HashingPipeline(hasher='auto'))")
    return REGISTRY[kind]


def training_spec(name: str) -> HasherSpec:
    """The spec whose parameters and validation rows a pipeline of hasher ``name`` trains with
    (``"auto"``: its first candidate's)."""
    kind = canonical_hasher(name)
    return REGISTRY[AUTO_CANDIDATES[0] if kind == AUTO_HASHER else kind]


def entry_spec(entry: Dict[str, Any]) -> HasherSpec:
    """The spec of a saved manifest's hasher entry, whose ``kind`` must be a canonical name."""
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in REGISTRY:
        raise ValueError(f"unknown hasher kind {kind!r}")
    return REGISTRY[kind]


def hasher_files(entry: Dict[str, Any]) -> List[str]:
    """The files (relative to the pipeline directory) that a saved hasher entry points to."""
    return entry_spec(entry).files(entry)


def display_name(kind: str) -> str:
    """How reports name a hasher kind: ``"itq"`` -> ``"PCA-ITQ"`` (an unknown kind: upper case)."""
    spec = REGISTRY.get(kind)
    return spec.display if spec is not None else kind.upper()


def hasher_names(neural: Optional[bool] = None) -> List[str]:
    """Canonical names, in registration order: all, or only the neural (True) or classic (False) ones."""
    return [spec.name for spec in SPECS if neural is None or spec.neural == neural]


def spec_of(hasher: Any) -> HasherSpec:
    """The spec whose class made ``hasher``; TypeError for an object no spec knows."""
    for spec in sorted(SPECS, key=lambda s: s.neural):  # baselines first: no torch import for them
        if spec.owns(hasher):
            return spec
    raise TypeError(f"{type(hasher).__name__} is not a registered hasher (one of {hasher_names()})")


def model_spec(class_name: Any) -> HasherSpec:
    """The neural hasher whose model class is called ``class_name`` (a saved model's config says
    it); ValueError naming the registered ones otherwise."""
    for spec in SPECS:
        if spec.neural and spec.source.partition(":")[2] == class_name:
            return spec
    models = [spec.source.partition(":")[2] for spec in SPECS if spec.neural]
    raise ValueError(f"a {class_name} model is not one of the registered neural hashers' models {models}")
