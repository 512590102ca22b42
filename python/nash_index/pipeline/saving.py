"""Writing a :class:`HashingPipeline`'s files into a fresh directory (the inverse of
:mod:`nash_index.pipeline.loading`); :func:`~nash_index.pipeline.storage.save_directory` makes
the whole save atomic and adds every file's checksum to the manifest."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from .embedders import PRECOMPUTED
from .storage import DENSE_VERSION, INDEX_FILE, KEYS_FILE, VECTORIZER_FILE, VECTORS_FILE

__all__ = ["write_pipeline_files"]


def write_pipeline_files(pipe: Any, out: Path) -> Dict[str, Any]:
    """Each component of ``pipe`` writes its own files into ``out``; returns the manifest entries.

    ``hasher_kind`` is what the pipeline was asked for (``"auto"`` included, with its
    ``hasher_params`` for the NASH candidate); the ``hasher`` entry is the trained hasher's own
    kind (for ``"auto"``: the kept one, also named by ``train_info["hasher"]``, the choice's
    record being ``train_info["auto"]``)."""
    hasher_entry = pipe.trained.save(out)
    index_entry: Dict[str, Any] = {"file": None, "ntotal": 0, "type": None}
    if pipe.index is not None:
        pipe.index.save(out / INDEX_FILE)
        index_entry = {"file": INDEX_FILE, "ntotal": pipe.index.ntotal, "type": type(pipe.index).__name__}
    pipe._keys.save(out / KEYS_FILE)
    entries = {"nbits": pipe.nbits, "hasher_kind": pipe.hasher_kind, "index_kind": pipe.index_kind,
               "hasher_params": pipe.hasher_params, "validation_fraction": pipe.validation_fraction,
               "seed": pipe.seed, "hasher": hasher_entry, "index": index_entry, "train_info": pipe.train_info}
    if not pipe.uses_vectors:  # a TF-IDF pipeline: the version-1 layout, unchanged
        pipe.vectorizer.save(out / VECTORIZER_FILE)
        return {**entries, "vectorizer": pipe.vectorizer.to_manifest()}
    vectors_entry = None
    if pipe.vectors is not None:
        pipe.vectors.save(out / VECTORS_FILE)
        vectors_entry = pipe.vectors.to_manifest(VECTORS_FILE)
    embedder = pipe.embedder.to_manifest() if pipe.embedder is not None else {"kind": PRECOMPUTED, "name": PRECOMPUTED}
    return {**entries, "version": DENSE_VERSION, "embedder": embedder, "embedding_dim": pipe.embedding_dim,
            "embed_batch_size": pipe.embed_batch_size, "vectors": vectors_entry}
