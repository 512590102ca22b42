"""Reading a saved pipeline's files, trusting none of them: the parts of a :class:`HashingPipeline`.

Every read is wrapped (:func:`~nash_index.pipeline.storage.reading`), so that a damaged file
raises PipelineFormatError naming it whether or not checksums are verified; then the parts are
checked against each other (code length, vocabulary size, ids), so a mismatch fails at load
and not inside a later ``encode`` or ``search``. Each component reads its own files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, NamedTuple

from ..text import AUTO_HASHER, TrainedHasher, entry_spec, hasher_files
from ..text.auto_select import CANDIDATES
from .documents import DocumentStore, store_entries, store_files
from .featurizer import Featurizer, featurizer_files, is_dense_manifest
from .storage import CODES_CONTENTS, MANIFEST, PipelineFormatError, is_member_name, manifest_entry, reading

__all__ = ["SavedParts", "load_parts", "pipeline_params"]


class SavedParts(NamedTuple):
    """The components of a saved pipeline, read and checked against each other."""

    featurizer: Featurizer
    trained: TrainedHasher
    documents: DocumentStore
    train_info: Dict[str, Any]


def pipeline_params(src: Path, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """The :class:`HashingPipeline` arguments that directory ``src`` with ``manifest`` was saved
    with (read inside ``reading(src, MANIFEST)``: a missing one is damage)."""
    if manifest.get("contents") == CODES_CONTENTS:
        raise PipelineFormatError(f"'{src}' is an index of codes built with --codes: it has no text encoder "
                                  "(open it with CodesIndex.load, or search it with query codes)")
    return dict(nbits=manifest["nbits"], hasher=manifest["hasher_kind"], index=manifest["index_kind"],
                hasher_params=manifest.get("hasher_params"),
                validation_fraction=manifest.get("validation_fraction", 0.1), seed=manifest.get("seed", 0))


def load_parts(src: Path, manifest: Dict[str, Any], nbits: int, hasher_kind: str, index_kind: str, *,
               use_torch: bool, mmap: bool, verify: bool, embedder: Any = None) -> SavedParts:
    """The parts that directory ``src`` with ``manifest`` holds for a pipeline of ``nbits``-bit
    codes, hasher ``hasher_kind`` and index ``index_kind`` (its :func:`pipeline_params`);
    ``embedder`` replaces (or, for a callable, supplies) the saved embedder of a dense pipeline."""
    with reading(src, MANIFEST):
        hasher_entry = manifest_entry(manifest, "hasher")
        needed = featurizer_files(manifest)
        entries = store_entries(manifest, is_dense_manifest(manifest))
        needed += [*store_files(entries), *hasher_files(hasher_entry)]
        for name in needed:
            if not is_member_name(name):
                raise ValueError(f"invalid file name {name!r}")
            if verify and name not in manifest["files"]:
                raise PipelineFormatError(f"{src}: {name} is not listed in {MANIFEST}, so it cannot be verified")
        train_info = manifest.get("train_info", {})
    if hasher_kind == AUTO_HASHER and hasher_entry["kind"] not in CANDIDATES:
        raise PipelineFormatError(f"{src}: a hasher='auto' pipeline holds a {hasher_entry['kind']!r} hasher, "
                                  f"not one of its candidates {list(CANDIDATES)}")
    if use_torch:
        entry_spec(hasher_entry).check_torch_load(hasher_entry, src)
    featurizer = Featurizer.load(src, manifest, embedder)
    with reading(src, "the hasher's files"):
        trained = TrainedHasher.load(hasher_entry, src, use_torch)
        _check_encoder(trained.encoder, nbits, featurizer)
    documents = DocumentStore.load(src, entries, nbits, index_kind, featurizer.embedding_dim, mmap=mmap,
                                   verify=verify)
    return SavedParts(featurizer, trained, documents, train_info if isinstance(train_info, dict) else {})


def _check_encoder(encoder: Any, nbits: int, featurizer: Featurizer) -> None:
    """The encoder makes ``nbits``-bit codes from the columns ``featurizer`` makes."""
    enc_bits = getattr(encoder, "nbits", None)
    enc_features = getattr(encoder, "n_features", getattr(encoder, "n_features_", None))
    if enc_bits != nbits or enc_features != featurizer.n_features:
        raise ValueError(f"the hasher makes {enc_bits}-bit codes from {enc_features} features; the pipeline "
                         f"makes {nbits}-bit codes from {featurizer.source}")
