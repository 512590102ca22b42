"""Reading a saved pipeline's files into a :class:`HashingPipeline`, trusting none of them.

Every read is wrapped (:func:`~nash_index.pipeline.storage.reading`), so that a damaged file
raises PipelineFormatError naming it whether or not checksums are verified; then the parts are
checked against each other (code length, vocabulary size, ids), so a mismatch fails at load
and not inside a later ``encode`` or ``search``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from ..index import load as load_index
from ..text import HASHERS, TextVectorizer, TrainedHasher
from .keys import DocumentKeys
from .storage import CODES_CONTENTS, KEYS_FILE, MANIFEST, VECTORIZER_FILE, PipelineFormatError, is_member_name, reading

__all__ = ["load_pipeline_files"]


def load_pipeline_files(cls: Any, src: Path, manifest: Dict[str, Any], *, use_torch: bool, mmap: bool,
                        verify: bool) -> Any:
    """The pipeline (an instance of ``cls``) that directory ``src`` with ``manifest`` holds."""
    if manifest.get("contents") == CODES_CONTENTS:
        raise PipelineFormatError(f"'{src}' is an index of codes built with --codes: it has no text encoder "
                                  "(open it with CodesIndex.load, or search it with query codes)")
    with reading(src, MANIFEST):
        pipe = cls(nbits=manifest["nbits"], hasher=manifest["hasher_kind"], index=manifest["index_kind"],
                   hasher_params=manifest.get("hasher_params"),
                   validation_fraction=manifest.get("validation_fraction", 0.1),
                   seed=manifest.get("seed", 0), verbose=False)
        hasher_entry, index_entry = _entry(manifest, "hasher"), _entry(manifest, "index")
        _entry(manifest, "vectorizer")
        train_info = manifest.get("train_info", {})
        pipe.train_info = train_info if isinstance(train_info, dict) else {}
        index_file = index_entry.get("file")
        needed = [VECTORIZER_FILE, KEYS_FILE, *_hasher_files(hasher_entry, src)] + ([index_file] if index_file else [])
        for name in needed:
            if not is_member_name(name):
                raise ValueError(f"invalid file name {name!r}")
            if verify and name not in manifest["files"]:
                raise PipelineFormatError(f"{src}: {name} is not listed in {MANIFEST}, so it cannot be verified")
    if use_torch and hasher_entry["kind"] == "nash" and not hasher_entry.get("model"):
        raise ValueError(f"{src} holds no torch model (only its numpy export); load it with use_torch=False")
    with reading(src, VECTORIZER_FILE) as path:
        pipe.vectorizer = TextVectorizer.load(path, manifest["vectorizer"])
    with reading(src, "the hasher's files"):
        pipe.trained = TrainedHasher.load(hasher_entry, src, use_torch)
        _check_encoder(pipe.trained.encoder, pipe.nbits, pipe.vectorizer.n_features)
    if index_file:
        with reading(src, index_file) as path:
            pipe.index = load_index(path, mmap=mmap, verify=verify)
            if pipe.index.nbits != pipe.nbits:
                raise ValueError(f"{pipe.index.nbits}-bit codes; the pipeline makes {pipe.nbits}-bit codes")
    with reading(src, KEYS_FILE) as path:
        pipe._keys = DocumentKeys.load(path)
    _check_keys_match_index(pipe, src)
    return pipe


def _entry(manifest: Dict[str, Any], name: str) -> Dict[str, Any]:
    entry = manifest[name]
    if not isinstance(entry, dict):
        raise ValueError(f"the '{name}' entry must be an object, got {type(entry).__name__}")
    return entry


def _hasher_files(entry: Dict[str, Any], src: Path) -> List[str]:
    """The files the hasher entry points to (NASH: the encoder and, if kept, the model's files)."""
    if entry.get("kind") not in set(HASHERS.values()):
        raise ValueError(f"unknown hasher kind {entry.get('kind')!r}")
    if entry["kind"] != "nash":
        return [entry["arrays"]]
    model = entry.get("model")
    if model is not None and not is_member_name(model):
        raise ValueError(f"invalid model directory name {model!r}")
    return [entry["encoder"]] + ([f"{model}/config.json", f"{model}/weights.pt"] if model else [])


def _check_encoder(encoder: Any, nbits: int, n_features: int) -> None:
    """The encoder makes ``nbits``-bit codes from the vectorizer's ``n_features`` columns."""
    enc_bits = getattr(encoder, "nbits", None)
    enc_features = getattr(encoder, "n_features", getattr(encoder, "n_features_", None))
    if enc_bits != nbits or enc_features != n_features:
        raise ValueError(f"the hasher makes {enc_bits}-bit codes from {enc_features} features; the pipeline "
                         f"makes {nbits}-bit codes from a {n_features}-term vocabulary")


def _check_keys_match_index(pipe: Any, src: Path) -> None:
    index_ids = set() if pipe.index is None else set(pipe.index.ids().tolist())
    if index_ids != set(pipe._keys.ids().tolist()):
        raise PipelineFormatError(f"{src}: the index holds {pipe.ntotal} codes but {KEYS_FILE} has {len(pipe._keys)} "
                                  "keys for other ids")
