"""What :meth:`HashingPipeline.fit` trains on and what it trains: TF-IDF rows of a freshly fitted
vocabulary, or dense vectors (the embedder's, or ``embeddings=``), with labels and validation rows
for NASH; then the hasher, and the record of the fit. Nothing here changes the pipeline: the fit
returns new parts, which the pipeline takes only when the whole fit succeeded."""
from __future__ import annotations

import sys
import time
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from ..index.validation import check_fraction, check_num_threads
from ..text import AUTO_CANDIDATES, AUTO_HASHER, TextVectorizer, TrainedHasher, display_name, select_hasher, training_spec
from ..text.auto_select import auto_summary
from .embedders import check_vectors, dense_vectors
from .featurizer import Featurizer
from .inputs import check_store, optional_texts, unused
from .labels import training_label_arrays

__all__ = ["MIN_VALIDATION_DOCS", "Fit", "TrainingData", "TrainingSettings", "check_training_args", "fit_parts", "hold_out", "train_hasher",
           "training_data", "warn_auto_without_labels", "warn_no_validation"]

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


def warn_no_validation(n_texts: int, epochs: int, fraction: float, hasher: str) -> None:
    """The UserWarning of a neural fit (``hasher``: its display name) that runs all its epochs for want of
    validation data."""
    why = ("validation_fraction is 0" if fraction == 0 else
           f"{n_texts} texts are too few for validation_fraction={fraction} to leave "
           f"{MIN_VALIDATION_DOCS} for validation and {MIN_VALIDATION_DOCS} for training")
    if epochs != 1:
        warnings.warn(f"HashingPipeline.fit without validation data ({why}): all {epochs} epochs of {hasher} will run "
                      "(no early stopping); pass val_texts to stop at the best epoch", UserWarning, stacklevel=5)


def warn_auto_without_labels(no_validation: bool, no_labels: bool) -> None:
    """The UserWarning of a ``hasher="auto"`` fit that has nothing to compare the candidates on."""
    why = ("no labels were given" if no_labels else
           "there are no validation texts" if no_validation else "the validation texts have no labels")
    kept, other = (display_name(kind) for kind in AUTO_CANDIDATES)
    warnings.warn(f"hasher='auto' compares {kept} and {other} by validation precision, but {why}: {kept} is kept "
                  "without comparison", UserWarning, stacklevel=5)


class TrainingSettings(NamedTuple):
    """The pipeline's parameters that a fit reads (see :class:`HashingPipeline`)."""

    hasher_kind: str
    nbits: int
    hasher_params: Dict[str, Any]
    validation_fraction: float
    seed: int
    num_threads: Optional[int]
    verbose: bool


class TrainingData(NamedTuple):
    """The hasher's training input; ``dim`` is the dense vectors' width (None: TF-IDF rows)."""

    vectorizer: TextVectorizer
    X: Any
    y: Optional[np.ndarray]
    X_val: Any
    y_val: Optional[np.ndarray]
    dim: Optional[int]


class Fit(NamedTuple):
    """What a fit made: the featurizer that reads as the hasher was trained, the hasher, the record."""

    featurizer: Featurizer
    trained: TrainedHasher
    train_info: Dict[str, Any]


def check_training_args(validation_fraction: Any, hasher_params: Any, num_threads: Any) -> None:
    """The pipeline's arguments that only a fit reads, checked when the pipeline is made."""
    if check_fraction(validation_fraction, "validation_fraction") == 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if hasher_params is not None and not isinstance(hasher_params, dict):
        raise TypeError(f"hasher_params must be a dict, got {type(hasher_params).__name__}")
    check_num_threads(num_threads)
    if num_threads is not None and "num_threads" in (hasher_params or {}):
        raise ValueError("num_threads is given twice (as a parameter and in hasher_params); give it once")


def fit_parts(settings: TrainingSettings, featurizer: Featurizer, vector_dtype: Optional[str], texts: Any,
              labels: Any, val_texts: Any, val_labels: Any, embeddings: Any, val_embeddings: Any) -> Fit:
    """Fits the vocabulary (or measures the vectors) and trains the hasher (the arguments are
    :meth:`HashingPipeline.fit`'s); ``featurizer`` itself is not changed."""
    t0 = time.perf_counter()
    data = training_data(settings, featurizer, vector_dtype, texts, labels, val_texts, val_labels, embeddings,
                         val_embeddings)
    t1 = time.perf_counter()
    trained, selection = train_hasher(settings, data)
    info = {"n_train": int(data.X.shape[0]), "n_val": 0 if data.X_val is None else int(data.X_val.shape[0]),
            "n_features": int(data.X.shape[1]), "vectorize_seconds": t1 - t0,
            "train_seconds": time.perf_counter() - t1, "hasher": trained.kind}
    result = getattr(trained.model, "result_", None)
    if result is not None:
        info.update(best_epoch=int(result.best_epoch), epochs_run=len(result.history), criterion=result.criterion,
                    best_score=float(result.best_score))
    if selection is not None:
        info["auto"] = selection
        if settings.verbose:
            print(auto_summary(selection), file=sys.stderr)
    return Fit(featurizer.fitted(data.vectorizer, data.dim), trained, info)


def training_data(settings: TrainingSettings, featurizer: Featurizer, vector_dtype: Optional[str], texts: Any,
                  labels: Any, val_texts: Any, val_labels: Any, embeddings: Any, val_embeddings: Any) -> TrainingData:
    """What the hasher trains on (``vector_dtype``: the pipeline's ``store_vectors``, refused for
    TF-IDF). Given vectors are checked before the labels, and the labels before the embedder runs
    (it is slow)."""
    dense = featurizer.embedder is not None or embeddings is not None
    texts = optional_texts(texts, embeddings if dense else None, "texts", allow_empty=False)
    if val_texts is not None or val_embeddings is not None:
        val_texts = optional_texts(val_texts, val_embeddings, "val_texts")
    if not dense:
        unused(val_embeddings, "val_embeddings")
        check_store(vector_dtype)
        y, y_val = training_label_arrays(labels, len(texts), val_labels, len(val_texts or []))  # type: ignore
        vectorizer = TextVectorizer(featurizer.vectorizer.params)
        X = vectorizer.fit_transform(texts)
        X_val = None if val_texts is None else vectorizer.transform(val_texts)
        return _held_out(settings, TrainingData(vectorizer, X, y, X_val, y_val, None))
    X = None if embeddings is None else check_vectors(embeddings, _count(texts), "embeddings")
    X_val = None if val_embeddings is None else check_vectors(val_embeddings, _count(val_texts), "val_embeddings",
                                                              None if X is None else X.shape[1])
    y, y_val = training_label_arrays(labels, _count(texts, X), val_labels, _count(val_texts, X_val) or 0)
    embed = dict(batch_size=featurizer.embed_batch_size, verbose=featurizer.verbose)
    X = dense_vectors(featurizer.embedder, texts, X, "embeddings", None, **embed)
    if val_texts is not None or X_val is not None:
        X_val = dense_vectors(featurizer.embedder, val_texts, X_val, "val_embeddings", X.shape[1], **embed)
    return _held_out(settings, TrainingData(featurizer.vectorizer, X, y, X_val, y_val, int(X.shape[1])))


def train_hasher(settings: TrainingSettings, data: TrainingData) -> Tuple[TrainedHasher, Optional[Dict[str, Any]]]:
    """The hasher trained on ``data``, and for ``hasher="auto"`` the record of the choice
    (:func:`nash_index.text.auto_select.select_hasher`; else None). NASH, also as auto's
    candidate, gets ``settings.num_threads``; a NASH fit without validation data warns once, here."""
    X, y, X_val, y_val = data.X, data.y, data.X_val, data.y_val
    kind, params = settings.hasher_kind, dict(settings.hasher_params)
    spec = training_spec(kind)  # auto: its neural candidate's
    if spec.neural and settings.num_threads is not None:
        params["num_threads"] = settings.num_threads
    with warnings.catch_warnings():
        if spec.uses_validation and X_val is None:
            warn_no_validation(X.shape[0], settings.hasher_params.get("epochs", 100), settings.validation_fraction,
                               spec.display)
            warnings.filterwarnings("ignore", r"\w+\.fit without validation data", UserWarning)  # said above
        if kind != AUTO_HASHER:
            return TrainedHasher.train(kind, settings.nbits, params, settings.seed, settings.verbose,
                                       X, y, X_val, y_val), None
        if y_val is None:
            warn_auto_without_labels(X_val is None, y is None)
        return select_hasher(X, y, X_val, y_val, settings.nbits, params, settings.seed, settings.verbose)


def _held_out(settings: TrainingSettings, data: TrainingData) -> TrainingData:
    """NASH or ``"auto"`` without validation data: ``validation_fraction`` of the rows held out
    for early stopping (and for auto's comparison of the candidates)."""
    if data.X_val is not None or not training_spec(settings.hasher_kind).uses_validation:
        return data
    X, y, X_val, y_val = hold_out(data.X, data.y, settings.validation_fraction, settings.seed)
    return data._replace(X=X, y=y, X_val=X_val, y_val=y_val)


def _count(texts: Optional[List[str]], vectors: Optional[np.ndarray] = None) -> Optional[int]:
    """How many items: the texts', else the vectors' rows (None: not known yet)."""
    if texts is not None:
        return len(texts)
    return None if vectors is None else int(vectors.shape[0])
