"""What a :class:`HashingPipeline` reads, checked: warnings about texts with no vocabulary term,
and the texts / ``embeddings=`` arguments of a pipeline that hashes dense vectors."""
from __future__ import annotations

import warnings
from typing import Any, List, Optional, Sequence

import numpy as np

from ..index import pack_bits
from ..text import check_texts
from ..text.vectorizer import describe_texts

__all__ = ["as_packed_codes", "check_store", "input_texts", "optional_texts", "unused", "warn_no_terms"]


def warn_no_terms(texts: List[str], blank: np.ndarray, action: str, consequence: str, noun: str = "texts") -> None:
    """One UserWarning naming the texts that have no vocabulary term (positions and excerpts)."""
    positions = np.flatnonzero(blank).tolist()
    if positions:
        warnings.warn(f"{action}: {len(positions)} of {len(texts)} {noun} have no known term (empty, only stop "
                      f"words or words outside the vocabulary): {describe_texts(texts, positions)}; {consequence}",
                      UserWarning, stacklevel=3)


def optional_texts(texts: Optional[Sequence[str]], embeddings: Any, name: str, allow_empty: bool = True
                   ) -> Optional[List[str]]:
    """Checked ``texts``; None only where ``embeddings`` stand in for them (a dense pipeline)."""
    if texts is None and embeddings is not None:
        return None
    return check_texts(texts, allow_empty=allow_empty, name=name)


def input_texts(uses_vectors: bool, texts: Any, embeddings: Any, name: str) -> Optional[List[str]]:
    """Checked ``texts`` of add / encode / search (None where ``embeddings`` replace them), and
    ``embeddings`` refused by a TF-IDF pipeline (``uses_vectors`` False)."""
    if not uses_vectors:
        unused(embeddings, "embeddings")
    return optional_texts(texts, embeddings, name)


def unused(embeddings: Any, name: str) -> None:
    """``embeddings`` given to a TF-IDF pipeline: refused (it would silently be ignored)."""
    if embeddings is not None:
        raise ValueError(f"{name} given to a pipeline that hashes TF-IDF rows; pass embeddings to a pipeline "
                         "made with an embedder (HashingPipeline(embedder=...)) or fitted on embeddings")


def check_store(vector_dtype: Optional[str]) -> None:
    """store_vectors on a TF-IDF pipeline: refused (its rows are sparse and vocabulary-wide)."""
    if vector_dtype is not None:
        raise ValueError("store_vectors keeps dense float vectors for rescoring: give the pipeline an embedder, "
                         "or fit it on embeddings= (TF-IDF rows are not stored)")


def as_packed_codes(array: Any, name: str = "codes") -> np.ndarray:
    """Packed uint8 codes (n, nbits // 8) from ``array``: uint8 rows are taken as packed codes
    (``pack_bits`` order), bool or other integer rows as one 0/1 value per bit."""
    arr = np.asarray(array)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (one code per row), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold packed uint8 codes or 0/1 bits (bool or integers), got dtype {arr.dtype}")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} has dtype {arr.dtype}, read as one bit per column, but holds values other than "
                         "0 and 1 (packed codes must have dtype uint8)")
    return pack_bits(arr.astype(np.uint8))
