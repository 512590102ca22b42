"""Text -> vectors -> codes: the one TF-IDF vectorizer and the hashers (the registry: NASH, VDSH, baselines)."""
from __future__ import annotations

from .auto_select import select_hasher
from .hashers import TrainedHasher, encoder_of, fit_hasher, make_hasher
from .registry import (
    AUTO_CANDIDATES,
    AUTO_HASHER,
    DEFAULT_HASHER,
    HASHERS,
    PIPELINE_HASHER,
    canonical_hasher,
    display_name,
    entry_spec,
    hasher_files,
    hasher_names,
    hasher_spec,
    model_spec,
    training_spec,
)
from .spec import HasherSpec
from .vectorizer import TextVectorizer, VectorizerParams, check_texts

__all__ = [
    "AUTO_CANDIDATES", "AUTO_HASHER", "DEFAULT_HASHER", "HASHERS", "PIPELINE_HASHER", "HasherSpec", "TextVectorizer",
    "TrainedHasher", "VectorizerParams", "canonical_hasher", "check_texts", "display_name", "encoder_of",
    "entry_spec", "fit_hasher", "hasher_files", "hasher_names", "hasher_spec", "make_hasher", "model_spec",
    "select_hasher", "training_spec",
]
