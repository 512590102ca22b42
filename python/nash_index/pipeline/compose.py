"""A pipeline from parts saved in Python: a model written by ``NASH.save`` plus the TF-IDF
vectorizer that made its training matrix (``TextVectorizer.save``).

A bare model holds weights and ``n_features`` but no vocabulary, so on its own it cannot encode
text: the vectorizer is looked for as ``vectorizer.npz`` inside the model directory unless a path
is given, and its vocabulary size must match the model's input width::

    vec = TextVectorizer().fit(train_texts)
    model = NASH(nbits=32).fit(vec.transform(train_texts), X_val=vec.transform(val_texts))
    model.save("my_model"); vec.save("my_model/vectorizer.npz")
    pipe = HashingPipeline.from_model("my_model")  # or: nash-index build --model my_model ...
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, NamedTuple, Union

from ..index.base import PathLike
from ..text import TextVectorizer, TrainedHasher, model_spec

__all__ = ["MODEL_VECTORIZER_FILE", "SavedModel", "is_saved_model", "read_saved_model"]

#: Where a vectorizer saved beside a bare model is looked for.
MODEL_VECTORIZER_FILE = "vectorizer.npz"
_MODEL_FORMAT = "nash_index.models"  # models.serialization's format tag, read as plain JSON here


def is_saved_model(path: PathLike) -> bool:
    """True when ``path`` is a directory written by ``NASH.save`` / ``VDSH.save``."""
    config = Path(path).expanduser() / "config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("format") == _MODEL_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


class SavedModel(NamedTuple):
    """A saved model as a pipeline's hasher, with the vocabulary whose rows it reads."""

    nbits: int
    trained: TrainedHasher
    vectorizer: TextVectorizer
    train_info: Dict[str, Any]


def read_saved_model(model_dir: PathLike, vectorizer: Union[None, PathLike, TextVectorizer] = None) -> SavedModel:
    """The model of a registered neural hasher (``NASH.save``, ``VDSH.save``) in ``model_dir`` and
    ``vectorizer``: a fitted :class:`TextVectorizer` (e.g. ``Corpus.vectorizer()`` of the corpus whose
    rows trained the model), or the file it was saved to (default: inside ``model_dir``)."""
    src = Path(model_dir).expanduser()
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    try:
        spec = model_spec(config.get("class"))
    except ValueError as exc:
        raise ValueError(f"'{src}' cannot build an index: {exc}") from None
    if isinstance(vectorizer, TextVectorizer):
        vec, where = vectorizer, "given"
    else:
        vec_path = Path(vectorizer).expanduser() if vectorizer is not None else src / MODEL_VECTORIZER_FILE
        vec, where = _read_vectorizer(src, vec_path, vectorizer is not None), f"'{vec_path}'"
    model = spec.hasher_class().load(src, device="cpu")  # imports torch: only this path needs it
    if model.n_features_ != vec.n_features:
        raise ValueError(f"the model '{src}' reads {model.n_features_} TF-IDF columns but the vectorizer "
                         f"{where} has {vec.n_features} terms: it is not the vectorizer the model was trained with")
    return SavedModel(int(model.nbits), TrainedHasher(spec.name, model, spec.encoder_of(model)), vec,
                      {"from_model": str(src), "n_features": vec.n_features})


def _read_vectorizer(src: Path, path: Path, given: bool) -> TextVectorizer:
    if not path.is_file():
        what = f"no vectorizer file at '{path}'" if given else f"it has no {MODEL_VECTORIZER_FILE}"
        raise FileNotFoundError(f"'{src}' is a model saved by NASH.save, which holds no TF-IDF vocabulary, and {what}; "
                                "save the vectorizer whose rows trained it (TextVectorizer.save, or Corpus.vectorizer() "
                                f"for load_corpus rows) beside it as {MODEL_VECTORIZER_FILE}, or pass its file with "
                                "--vectorizer (--vectorizer corpus: the load_corpus vocabulary of --corpus)")
    return TextVectorizer.read(path)
