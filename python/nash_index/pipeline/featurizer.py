"""What a :class:`HashingPipeline`'s hasher reads: texts -> TF-IDF rows of a fitted vocabulary, or
dense vectors (an embedder's, or precomputed ``embeddings=``), and the codes an encoder makes of them.

A featurizer owns the vectorizer or the embedder and the vectors' width; it writes and reads its
own part of a saved pipeline (``vectorizer.npz`` and the manifest's ``vectorizer`` entry, or the
``embedder`` / ``embedding_dim`` / ``embed_batch_size`` entries of a dense pipeline).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

from ..text import TextVectorizer, check_texts
from ..text.vectorizer import rows_without_terms
from .embedders import EMBEDDER_KINDS, PRECOMPUTED, Embedder, dense_vectors, progress, saved_embedder
from .parallel import batch_encoder, encode_in_workers
from .storage import DENSE_VERSION, VECTORIZER_FILE, manifest_entry, reading

__all__ = ["Encoded", "Featurizer", "featurizer_files", "is_dense_manifest"]


class Encoded(NamedTuple):
    """Codes (uint8, packed) of n inputs, the mask of texts with no vocabulary term, and the dense
    vectors that were hashed (None for TF-IDF rows)."""

    codes: np.ndarray
    no_known_terms: np.ndarray
    vectors: Optional[np.ndarray]


class Featurizer:
    """Texts (or precomputed vectors) -> the hasher's input. ``embedding_dim`` is None until a
    dense pipeline is fitted, and stays None for TF-IDF."""

    def __init__(self, vectorizer: TextVectorizer, embedder: Optional[Embedder] = None,
                 embedding_dim: Optional[int] = None, embed_batch_size: int = 64, verbose: bool = True) -> None:
        self.vectorizer, self.embedder = vectorizer, embedder
        self.embedding_dim, self.embed_batch_size = embedding_dim, embed_batch_size
        self.verbose = verbose

    def fitted(self, vectorizer: TextVectorizer, embedding_dim: Optional[int]) -> "Featurizer":
        """A copy that reads with what a fit produced (a fresh vocabulary, or the vectors' width)."""
        return Featurizer(vectorizer, self.embedder, embedding_dim, self.embed_batch_size, self.verbose)

    @property
    def uses_vectors(self) -> bool:
        """True when the hasher reads dense vectors (an embedder's, or ``embeddings=``), not TF-IDF."""
        return self.embedder is not None or self.embedding_dim is not None

    @property
    def embedder_name(self) -> str:
        return self.embedder.name if self.embedder is not None else PRECOMPUTED

    @property
    def n_features(self) -> int:
        """Columns of the hasher's input (fitted featurizers only)."""
        return self.embedding_dim if self.uses_vectors else self.vectorizer.n_features  # type: ignore[return-value]

    @property
    def source(self) -> str:
        """What the hasher reads, in words (for messages)."""
        return f"{self.embedding_dim}-d vectors" if self.uses_vectors else f"a {self.n_features}-term vocabulary"

    def vectors(self, texts: Optional[List[str]], given: Any, name: str) -> np.ndarray:
        """Dense vectors: ``given`` (precomputed ``embeddings=``) checked, else the embedder's of ``texts``."""
        return dense_vectors(self.embedder, texts, given, name, self.embedding_dim, self.embed_batch_size,
                             self.verbose)

    def transform(self, texts: Any) -> Any:
        """TF-IDF rows (CSR float32) of ``texts``, or the embedder's float32 vectors."""
        texts = check_texts(texts, allow_empty=True)
        return self.vectors(texts, None, "embeddings") if self.uses_vectors else self.vectorizer.transform(texts)

    def encode(self, encoder: Any, nbits: int, texts: Optional[List[str]], embeddings: Any,
               batch_size: int, n_jobs: int = 1) -> Encoded:
        """``encoder``'s ``nbits``-bit codes of checked ``texts`` (or ``embeddings``), ``batch_size``
        rows at a time (a TF-IDF batch is built only when it is encoded); TF-IDF batches in
        ``n_jobs`` worker processes when there are several (:mod:`.parallel`)."""
        vectors = self.vectors(texts, embeddings, "embeddings") if self.uses_vectors else None
        n = len(texts) if vectors is None else vectors.shape[0]  # type: ignore[arg-type]
        if vectors is None and 0 < n <= batch_size:  # one batch (a query): no copies, no progress machinery
            rows = self.vectorizer.transform(texts, canonical=True)  # type: ignore[arg-type]
            return Encoded(encoder.encode(rows), rows_without_terms(rows), None)
        codes = np.empty((n, nbits // 8), dtype=np.uint8)
        blank = np.zeros(n, dtype=bool)
        if vectors is None and n_jobs > 1:
            batches = encode_in_workers(batch_encoder(self.vectorizer, encoder), texts, batch_size, n_jobs)  # type: ignore
            total = -(-n // batch_size)
            for s, (batch_codes, batch_blank) in progress(batches, "encode", self.verbose and total > 4, total):
                codes[s:s + batch_size], blank[s:s + batch_size] = batch_codes, batch_blank
            return Encoded(codes, blank, None)
        for s in progress(range(0, n, batch_size), "encode", self.verbose and n > 4 * batch_size):
            if vectors is None:  # the one home of the no-term check: encode, add and search come here
                # canonical: ascending indices, the order each encoder's input check sorts rows to
                rows = self.vectorizer.transform(texts[s:s + batch_size], canonical=True)  # type: ignore[index]
                codes[s:s + batch_size] = encoder.encode(rows)
                blank[s:s + batch_size] = rows_without_terms(rows)
            else:  # dense vectors have no "unknown term"
                codes[s:s + batch_size] = encoder.encode(vectors[s:s + batch_size])
        return Encoded(codes, blank, vectors)

    # ---- persistence -------------------------------------------------------------------
    def save(self, out: Path) -> Dict[str, Any]:
        """Writes the vocabulary (TF-IDF) into ``out``; returns the manifest entries."""
        if not self.uses_vectors:  # a TF-IDF pipeline: the version-1 layout, unchanged
            self.vectorizer.save(out / VECTORIZER_FILE)
            return {"vectorizer": self.vectorizer.to_manifest()}
        embedder = self.embedder.to_manifest() if self.embedder is not None else \
            {"kind": PRECOMPUTED, "name": PRECOMPUTED}
        return {"version": DENSE_VERSION, "embedder": embedder, "embedding_dim": self.embedding_dim,
                "embed_batch_size": self.embed_batch_size}

    @classmethod
    def load(cls, src: Path, manifest: Dict[str, Any], embedder: Any = None) -> "Featurizer":
        """Inverse of :meth:`save`; ``embedder`` replaces (or, for a callable, supplies) the saved
        one of a dense pipeline, and is refused by a TF-IDF pipeline."""
        if is_dense_manifest(manifest):  # not a file's damage: a callable embedder must be given again
            dim, batch = _dense_layout(manifest)
            return cls(TextVectorizer(), saved_embedder(manifest["embedder"], embedder), dim, batch, verbose=False)
        if embedder is not None:
            raise ValueError(f"{src} is a TF-IDF pipeline: it takes no embedder")
        with reading(src, VECTORIZER_FILE) as path:
            return cls(TextVectorizer.load(path, manifest["vectorizer"]), verbose=False)


def is_dense_manifest(manifest: Dict[str, Any]) -> bool:
    """A pipeline of dense vectors (version 3): its manifest names an embedder, it has no vocabulary."""
    return "embedder" in manifest


def featurizer_files(manifest: Dict[str, Any]) -> List[str]:
    """The featurizer's files in a saved pipeline, after its manifest entries are checked."""
    if not is_dense_manifest(manifest):
        manifest_entry(manifest, "vectorizer")
        return [VECTORIZER_FILE]
    embedder = manifest_entry(manifest, "embedder")
    if embedder.get("kind") not in EMBEDDER_KINDS or not isinstance(embedder.get("name"), str):
        raise ValueError(f"invalid embedder entry {embedder!r}")
    _dense_layout(manifest)
    return []


def _dense_layout(manifest: Dict[str, Any]) -> tuple:
    """``(embedding_dim, embed_batch_size)`` of a dense pipeline's manifest, checked."""
    dim, batch = manifest.get("embedding_dim"), manifest.get("embed_batch_size", 64)
    if not (isinstance(dim, int) and dim >= 1 and isinstance(batch, int) and batch >= 1):
        raise ValueError(f"invalid embedding_dim {dim!r} or embed_batch_size {batch!r}")
    return dim, batch
