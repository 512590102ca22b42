"""What :meth:`HashingPipeline.fit` trains on: TF-IDF rows of a freshly fitted vocabulary, or
dense vectors (the embedder's, or ``embeddings=``), with labels and validation rows for NASH."""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from ..text import AUTO_HASHER, DEFAULT_HASHER, TextVectorizer, TrainedHasher, display_name, select_hasher, training_spec
from .embedders import check_vectors, dense_vectors
from .inputs import check_store, optional_texts, unused
from .labels import training_label_arrays

__all__ = ["MIN_VALIDATION_DOCS", "TrainingData", "hold_out", "train_hasher", "training_data",
           "warn_auto_without_labels", "warn_no_validation"]

#: Below this many held-out documents NASH trains without validation (early stopping needs some).
MIN_VALIDATION_DOCS = 50


def hold_out(X: Any, y: Optional[np.ndarray], fraction: float, seed: int) -> tuple:
    """``(X_train, y_train, X_val, y_val)``: a seeded ``fraction`` of the rows held out, or
    ``(X, y, None, None)`` when either side would have fewer than MIN_VALIDATION_DOCS rows."""
    n_val = int(round(X.shape[0] * fraction))
    if n_val < MIN_VALIDATION_DOCS or X.shape[0] - n_val < MIN_VALIDATION_DOCS:
        return X, y, None, None
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    if y is None:
        return X[train], None, X[val], None
    return X[train], y[train], X[val], y[val]


def warn_no_validation(n_texts: int, epochs: int, fraction: float, hasher: str = display_name(DEFAULT_HASHER)) -> None:
    """The UserWarning of a neural fit (``hasher``: its display name) that runs all its epochs for want of
    validation data."""
    why = ("validation_fraction is 0" if fraction == 0 else
           f"{n_texts} texts are too few for validation_fraction={fraction} to leave "
           f"{MIN_VALIDATION_DOCS} for validation and {MIN_VALIDATION_DOCS} for training")
    if epochs != 1:
        warnings.warn(f"HashingPipeline.fit without validation data ({why}): all {epochs} epochs of {hasher} will run "
                      "(no early stopping); pass val_texts to stop at the best epoch", UserWarning, stacklevel=4)


def warn_auto_without_labels(no_validation: bool, no_labels: bool) -> None:
    """The UserWarning of a ``hasher="auto"`` fit that has nothing to compare the candidates on."""
    why = ("no labels were given" if no_labels else
           "there are no validation texts" if no_validation else "the validation texts have no labels")
    warnings.warn(f"hasher='auto' compares NASH and PCA-ITQ by validation precision, but {why}: NASH is kept "
                  "without comparison", UserWarning, stacklevel=4)


class TrainingData(NamedTuple):
    """The hasher's training input; ``dim`` is the dense vectors' width (None: TF-IDF rows)."""

    vectorizer: TextVectorizer
    X: Any
    y: Optional[np.ndarray]
    X_val: Any
    y_val: Optional[np.ndarray]
    dim: Optional[int]


def training_data(pipe: Any, texts: Any, labels: Any, val_texts: Any, val_labels: Any, embeddings: Any,
                  val_embeddings: Any) -> TrainingData:
    """What ``pipe`` (a HashingPipeline) trains on; its own vectorizer is not changed. Given
    vectors are checked before the labels, and the labels before the embedder runs (it is slow)."""
    dense = pipe.embedder is not None or embeddings is not None
    texts = optional_texts(texts, embeddings if dense else None, "texts", allow_empty=False)
    if val_texts is not None or val_embeddings is not None:
        val_texts = optional_texts(val_texts, val_embeddings, "val_texts")
    if not dense:
        unused(val_embeddings, "val_embeddings")
        check_store(pipe.vector_dtype)
        y, y_val = training_label_arrays(labels, len(texts), val_labels, len(val_texts or []))  # type: ignore
        vectorizer = TextVectorizer(pipe.vectorizer.params)
        X = vectorizer.fit_transform(texts)
        X_val = None if val_texts is None else vectorizer.transform(val_texts)
        return _held_out(pipe, TrainingData(vectorizer, X, y, X_val, y_val, None))
    X = None if embeddings is None else check_vectors(embeddings, _count(texts), "embeddings")
    X_val = None if val_embeddings is None else check_vectors(val_embeddings, _count(val_texts), "val_embeddings",
                                                              None if X is None else X.shape[1])
    y, y_val = training_label_arrays(labels, _count(texts, X), val_labels, _count(val_texts, X_val) or 0)
    embed = dict(batch_size=pipe.embed_batch_size, verbose=pipe.verbose)
    X = dense_vectors(pipe.embedder, texts, X, "embeddings", None, **embed)
    if val_texts is not None or X_val is not None:
        X_val = dense_vectors(pipe.embedder, val_texts, X_val, "val_embeddings", X.shape[1], **embed)
    return _held_out(pipe, TrainingData(pipe.vectorizer, X, y, X_val, y_val, int(X.shape[1])))


def train_hasher(pipe: Any, data: "TrainingData") -> Tuple[TrainedHasher, Optional[Dict[str, Any]]]:
    """``pipe``'s hasher trained on ``data``, and for ``hasher="auto"`` the record of the choice
    (:func:`nash_index.text.auto_select.select_hasher`; else None). NASH, also as auto's
    candidate, gets ``pipe.num_threads``; a NASH fit without validation data warns once, here."""
    X, y, X_val, y_val = data.X, data.y, data.X_val, data.y_val
    params = dict(pipe.hasher_params)
    spec = training_spec(pipe.hasher_kind)  # auto: its neural candidate's
    if spec.neural and pipe.num_threads is not None:
        params["num_threads"] = pipe.num_threads
    with warnings.catch_warnings():
        if spec.uses_validation and X_val is None:
            warn_no_validation(X.shape[0], pipe.hasher_params.get("epochs", 100), pipe.validation_fraction, spec.display)
            warnings.filterwarnings("ignore", r"\w+\.fit without validation data", UserWarning)  # said above
        if pipe.hasher_kind != AUTO_HASHER:
            return TrainedHasher.train(pipe.hasher_kind, pipe.nbits, params, pipe.seed, pipe.verbose,
                                       X, y, X_val, y_val), None
        if y_val is None:
            warn_auto_without_labels(X_val is None, y is None)
        return select_hasher(X, y, X_val, y_val, pipe.nbits, params, pipe.seed, pipe.verbose)


def _held_out(pipe: Any, data: TrainingData) -> TrainingData:
    """NASH or ``"auto"`` without validation data: ``validation_fraction`` of the rows held out
    for early stopping (and for auto's comparison of the candidates)."""
    if data.X_val is not None or not training_spec(pipe.hasher_kind).uses_validation:
        return data
    X, y, X_val, y_val = hold_out(data.X, data.y, pipe.validation_fraction, pipe.seed)
    return data._replace(X=X, y=y, X_val=X_val, y_val=y_val)


def _count(texts: Optional[List[str]], vectors: Optional[np.ndarray] = None) -> Optional[int]:
    """How many items: the texts', else the vectors' rows (None: not known yet)."""
    if texts is not None:
        return len(texts)
    return None if vectors is None else int(vectors.shape[0])
