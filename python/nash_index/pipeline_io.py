"""Saving and loading a :class:`~nash_index.pipeline.HashingPipeline` directory.

Layout (format ``nash_index.pipeline``, version 1)::

    manifest.json     format, version, parameters, file list with SHA-256 checksums (written last)
    vectorizer.npz    vocabulary (terms in column order) and idf weights
    encoder.npz       NASH: the encoder as numpy arrays (what encodes queries; torch-free)
    model/            NASH: the torch model (config.json, weights.pt), to train further
    hasher.npz        a baseline's fitted arrays (instead of the two entries above)
    index.nidx        the Hamming index (nash_index.load format), absent while empty
    keys.npz          ids and document keys

Atomicity: everything is written to a fresh sibling ``.<name>.tmp-*`` directory, flushed, and
then renamed into place; an existing pipeline is first renamed to ``.<name>.previous`` and
deleted only once the new one is in place. If a save is interrupted, ``path`` still holds the old
pipeline, or (in the instant between the two renames) only ``.<name>.previous`` does, which
:func:`load_pipeline` then reads. A half-written directory never carries the ``path`` name.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict

import numpy as np

from ._index_base import PathLike
from .hashers import load_hasher, save_hasher
from .vectorizer import TextVectorizer

FORMAT = "nash_index.pipeline"
VERSION = 1
MANIFEST = "manifest.json"
INDEX_FILE = "index.nidx"
KEYS_FILE = "keys.npz"
VECTORIZER_FILE = "vectorizer.npz"


class PipelineFormatError(ValueError):
    """The directory is not a (complete, uncorrupted, supported) saved pipeline."""


def _backup_of(path: Path) -> Path:
    return path.parent / f".{path.name}.previous"


# ---- save --------------------------------------------------------------------------------
def save_pipeline(pipe: Any, path: PathLike) -> None:
    """Writes ``pipe`` to directory ``path`` atomically (see the module docstring)."""
    final = Path(path).expanduser().absolute()
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a directory")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        _write_contents(pipe, tmp)
        _fsync_tree(tmp)
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_contents(pipe: Any, out: Path) -> None:
    files: Dict[str, Any] = {}
    pipe.vectorizer.save(out / VECTORIZER_FILE)
    hasher_entry = save_hasher(pipe.hasher_kind, pipe.hasher, pipe.encoder, out, pipe._model_files)
    index_entry = _write_index(pipe, out)
    _write_keys(pipe._keys, out / KEYS_FILE)
    for p in sorted(out.rglob("*")):
        if p.is_file():
            files[p.relative_to(out).as_posix()] = _sha256(p)
    from . import __version__

    manifest = {
        "format": FORMAT, "version": VERSION, "nash_index_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nbits": pipe.nbits, "hasher_kind": pipe.hasher_kind, "index_kind": pipe.index_kind,
        "hasher_params": _jsonable(pipe.hasher_params), "validation_fraction": pipe.validation_fraction,
        "seed": pipe.seed, "vectorizer": pipe.vectorizer.to_manifest(), "hasher": hasher_entry,
        "index": index_entry, "train_info": _jsonable(pipe.train_info), "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _write_index(pipe: Any, out: Path) -> Dict[str, Any]:
    if pipe.index is None:
        return {"file": None, "ntotal": 0, "type": None}
    pipe.index.save(out / INDEX_FILE)
    return {"file": INDEX_FILE, "ntotal": pipe.index.ntotal, "type": type(pipe.index).__name__}


def _write_keys(keys: Dict[int, str], path: Path) -> None:
    ids = np.fromiter(keys.keys(), dtype=np.int64, count=len(keys))
    values = np.asarray(list(keys.values()), dtype=str) if keys else np.zeros(0, dtype="<U1")
    with open(path, "wb") as fh:
        np.savez(fh, ids=ids, keys=values)


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def _swap_into_place(tmp: Path, final: Path) -> None:
    backup = _backup_of(final)
    if final.exists():
        if backup.exists():
            shutil.rmtree(backup)  # left by an earlier interrupted save; ``final`` is complete
        os.replace(final, backup)
    os.replace(tmp, final)
    shutil.rmtree(backup, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


# ---- load --------------------------------------------------------------------------------
def load_pipeline(cls: type, path: PathLike, *, use_torch: bool = False, mmap: bool = False,
                  verify: bool = True) -> Any:
    """Reads a pipeline directory written by :func:`save_pipeline`."""
    src = _resolve(Path(path).expanduser())
    manifest = read_manifest(src)
    if verify:
        _verify_files(src, manifest)
    pipe = cls(nbits=manifest["nbits"], hasher=manifest["hasher_kind"], index=manifest["index_kind"],
               hasher_params=manifest.get("hasher_params"),
               validation_fraction=manifest.get("validation_fraction", 0.1),
               seed=manifest.get("seed", 0), verbose=False)
    pipe.vectorizer = TextVectorizer.load(src / VECTORIZER_FILE, manifest["vectorizer"])
    pipe.hasher, pipe.encoder, pipe._model_files = load_hasher(manifest["hasher"], src, use_torch)
    pipe.train_info = manifest.get("train_info", {})
    if manifest["index"].get("file"):
        from .persistence import load as load_index

        pipe.index = load_index(src / manifest["index"]["file"], mmap=mmap, verify=verify)
    with np.load(src / KEYS_FILE, allow_pickle=False) as z:
        pipe._keys = dict(zip(z["ids"].tolist(), z["keys"].tolist()))
    if pipe.ntotal != len(pipe._keys):
        raise PipelineFormatError(f"{src}: the index holds {pipe.ntotal} codes but {len(pipe._keys)} keys")
    return pipe


def _resolve(path: Path) -> Path:
    """``path``, or its backup when a save was interrupted between its two renames."""
    if path.exists():
        return path
    backup = _backup_of(path)
    if (backup / MANIFEST).is_file():
        warnings.warn(f"{path} is missing after an interrupted save; loading the previous pipeline "
                      f"from {backup}", RuntimeWarning, stacklevel=3)
        return backup
    raise FileNotFoundError(f"no pipeline at '{path}'")


def read_manifest(src: Path) -> Dict[str, Any]:
    """The parsed ``manifest.json`` of a pipeline directory, after format and version checks."""
    if not src.is_dir():
        raise PipelineFormatError(f"'{src}' is not a pipeline directory")
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise PipelineFormatError(f"'{src}' is not a saved pipeline (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise PipelineFormatError(f"'{src / MANIFEST}' is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PipelineFormatError(f"'{src}' is not a nash_index pipeline")
    if manifest.get("version") != VERSION:
        raise PipelineFormatError(f"'{src}' has pipeline format version {manifest.get('version')}; "
                                  f"this nash_index reads version {VERSION}")
    return manifest


def _verify_files(src: Path, manifest: Dict[str, Any]) -> None:
    for name, digest in manifest.get("files", {}).items():
        p = src / name
        if not p.is_file():
            raise PipelineFormatError(f"{src}: file {name} is missing")
        if _sha256(p) != digest:
            raise PipelineFormatError(f"{src}: file {name} is corrupted (checksum mismatch)")
