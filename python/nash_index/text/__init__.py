"""Text -> vectors -> codes: the one TF-IDF vectorizer and the hashers (NASH or a baseline)."""
from __future__ import annotations

from .auto_select import select_hasher
from .hashers import AUTO_HASHER, HASHERS, TrainedHasher, canonical_hasher, display_name, encoder_of, fit_hasher, make_hasher
from .vectorizer import TextVectorizer, VectorizerParams, check_texts

__all__ = ["AUTO_HASHER", "HASHERS", "TextVectorizer", "TrainedHasher", "VectorizerParams", "canonical_hasher", "check_texts",
           "display_name", "encoder_of", "fit_hasher", "make_hasher", "select_hasher"]
