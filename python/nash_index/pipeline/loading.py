"""Reading a saved pipeline's files into a :class:`HashingPipeline`, trusting none of them.

Every read is wrapped (:func:`~nash_index.pipeline.storage.reading`), so that a damaged file
raises PipelineFormatError naming it whether or not checksums are verified; then the parts are
checked against each other (code length, vocabulary size, ids), so a mismatch fails at load
and not inside a later ``encode`` or ``search``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from ..index import load as load_index
from ..text import AUTO_HASHER, TextVectorizer, TrainedHasher
from ..text.auto_select import CANDIDATES
from ..text.hasher_io import hasher_files
from ..text.registry import entry_spec
from .embedders import EMBEDDER_KINDS, saved_embedder
from .keys import DocumentKeys
from .storage import CODES_CONTENTS, KEYS_FILE, MANIFEST, VECTORIZER_FILE, PipelineFormatError, is_member_name, reading
from .vectors import StoredVectors

__all__ = ["load_pipeline_files"]


def load_pipeline_files(cls: Any, src: Path, manifest: Dict[str, Any], *, use_torch: bool, mmap: bool,
                        verify: bool, embedder: Any = None) -> Any:
    """The pipeline (an instance of ``cls``) that directory ``src`` with ``manifest`` holds;
    ``embedder`` replaces (or, for a callable, supplies) the saved embedder of a dense pipeline."""
    if manifest.get("contents") == CODES_CONTENTS:
        raise PipelineFormatError(f"'{src}' is an index of codes built with --codes: it has no text encoder "
                                  "(open it with CodesIndex.load, or search it with query codes)")
    with reading(src, MANIFEST):
        pipe = cls(nbits=manifest["nbits"], hasher=manifest["hasher_kind"], index=manifest["index_kind"],
                   hasher_params=manifest.get("hasher_params"),
                   validation_fraction=manifest.get("validation_fraction", 0.1),
                   seed=manifest.get("seed", 0), verbose=False)
        hasher_entry, index_entry = _entry(manifest, "hasher"), _entry(manifest, "index")
        dense = "embedder" in manifest  # a pipeline of dense vectors (version 3): no vocabulary
        if not dense:
            _entry(manifest, "vectorizer")
        vectors_entry = _dense_entries(pipe, manifest) if dense else None
        train_info = manifest.get("train_info", {})
        pipe.train_info = train_info if isinstance(train_info, dict) else {}
        index_file = index_entry.get("file")
        needed = [KEYS_FILE, *hasher_files(hasher_entry)] + ([index_file] if index_file else [])
        needed += [vectors_entry["file"]] if vectors_entry else ([] if dense else [VECTORIZER_FILE])
        for name in needed:
            if not is_member_name(name):
                raise ValueError(f"invalid file name {name!r}")
            if verify and name not in manifest["files"]:
                raise PipelineFormatError(f"{src}: {name} is not listed in {MANIFEST}, so it cannot be verified")
    if pipe.hasher_kind == AUTO_HASHER and hasher_entry["kind"] not in CANDIDATES:
        raise PipelineFormatError(f"{src}: a hasher='auto' pipeline holds a {hasher_entry['kind']!r} hasher, "
                                  f"not one of its candidates {list(CANDIDATES)}")
    if use_torch:
        entry_spec(hasher_entry).check_torch_load(hasher_entry, src)
    if dense:  # not a file's damage: a callable embedder must be given again
        pipe.embedder = saved_embedder(manifest["embedder"], embedder)
        n_features, source = pipe.embedding_dim, f"{pipe.embedding_dim}-d vectors"
    else:
        if embedder is not None:
            raise ValueError(f"{src} is a TF-IDF pipeline: it takes no embedder")
        with reading(src, VECTORIZER_FILE) as path:
            pipe.vectorizer = TextVectorizer.load(path, manifest["vectorizer"])
        n_features = pipe.vectorizer.n_features
        source = f"a {n_features}-term vocabulary"
    with reading(src, "the hasher's files"):
        pipe.trained = TrainedHasher.load(hasher_entry, src, use_torch)
        _check_encoder(pipe.trained.encoder, pipe.nbits, n_features, source)
    if vectors_entry:
        with reading(src, vectors_entry["file"]) as path:
            pipe.vectors = StoredVectors.load(path, vectors_entry)
            if pipe.vectors.dim != pipe.embedding_dim:
                raise ValueError(f"{pipe.vectors.dim}-d vectors; the pipeline hashes {pipe.embedding_dim}-d vectors")
    if index_file:
        with reading(src, index_file) as path:
            pipe.index = load_index(path, mmap=mmap, verify=verify)
            if pipe.index.nbits != pipe.nbits:
                raise ValueError(f"{pipe.index.nbits}-bit codes; the pipeline makes {pipe.nbits}-bit codes")
    with reading(src, KEYS_FILE) as path:
        pipe._keys = DocumentKeys.load(path)
    _check_keys_match_index(pipe, src)
    if pipe.vectors is not None and set(pipe.vectors.ids.tolist()) != set(pipe._keys.ids().tolist()):
        raise PipelineFormatError(f"{src}: {vectors_entry['file']} holds vectors of other ids than the index")  # type: ignore
    return pipe


def _dense_entries(pipe: Any, manifest: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Reads the dense pipeline's width and batch size into ``pipe``; returns the stored
    vectors' entry (None when none are kept)."""
    embedder = _entry(manifest, "embedder")
    if embedder.get("kind") not in EMBEDDER_KINDS or not isinstance(embedder.get("name"), str):
        raise ValueError(f"invalid embedder entry {embedder!r}")
    dim, batch = manifest.get("embedding_dim"), manifest.get("embed_batch_size", 64)
    if not (isinstance(dim, int) and dim >= 1 and isinstance(batch, int) and batch >= 1):
        raise ValueError(f"invalid embedding_dim {dim!r} or embed_batch_size {batch!r}")
    pipe.embedding_dim, pipe.embed_batch_size = dim, batch
    entry = manifest.get("vectors")
    if entry is None:
        return None
    if not isinstance(entry, dict) or not is_member_name(entry.get("file")):
        raise ValueError(f"the 'vectors' entry must be an object naming a file, got {entry!r}")
    pipe.vector_dtype = entry.get("dtype")
    return entry


def _entry(manifest: Dict[str, Any], name: str) -> Dict[str, Any]:
    entry = manifest[name]
    if not isinstance(entry, dict):
        raise ValueError(f"the '{name}' entry must be an object, got {type(entry).__name__}")
    return entry


def _check_encoder(encoder: Any, nbits: int, n_features: int, source: str) -> None:
    """The encoder makes ``nbits``-bit codes from the ``n_features`` columns of ``source`` (the
    vocabulary, or the dense vectors)."""
    enc_bits = getattr(encoder, "nbits", None)
    enc_features = getattr(encoder, "n_features", getattr(encoder, "n_features_", None))
    if enc_bits != nbits or enc_features != n_features:
        raise ValueError(f"the hasher makes {enc_bits}-bit codes from {enc_features} features; the pipeline "
                         f"makes {nbits}-bit codes from {source}")


def _check_keys_match_index(pipe: Any, src: Path) -> None:
    index_ids = set() if pipe.index is None else set(pipe.index.ids().tolist())
    if index_ids != set(pipe._keys.ids().tolist()):
        raise PipelineFormatError(f"{src}: the index holds {pipe.ntotal} codes but {KEYS_FILE} has {len(pipe._keys)} "
                                  "keys for other ids")
