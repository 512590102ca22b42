"""Text -> vectors -> codes: the one TF-IDF vectorizer and the hashers (NASH or a baseline)."""
from __future__ import annotations

from .hashers import HASHERS, TrainedHasher, canonical_hasher, encoder_of, fit_hasher, make_hasher
from .vectorizer import TextVectorizer, VectorizerParams, check_texts

__all__ = ["HASHERS", "TextVectorizer", "TrainedHasher", "VectorizerParams", "canonical_hasher", "check_texts",
           "encoder_of", "fit_hasher", "make_hasher"]
