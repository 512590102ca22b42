"""The directory format of a saved :class:`~nash_index.pipeline.HashingPipeline`: atomic writes,
the manifest, checksums. Each component writes and reads its own files (the pipeline says which).

Layout (format ``nash_index.pipeline``, version 1)::

    manifest.json     format, version, parameters, file list with SHA-256 checksums (written last)
    vectorizer.npz    vocabulary (terms in column order) and idf weights
    encoder.npz       NASH: the encoder as numpy arrays (what encodes queries; torch-free)
    model/            NASH: the torch model (config.json, weights.pt), to train further
    hasher.npz        a baseline's fitted arrays (instead of the two entries above)
    index.nidx        the Hamming index (nash_index.load format), absent while empty
    keys.npz          ids and document keys (and excerpts of the texts when stored): UTF-8 bytes and
                      offsets since keys format 2 (see :mod:`.keys`); older files still load
    vectors.npz       the documents' float vectors for rescoring (``store_vectors``; dense pipelines)

A pipeline that hashes dense vectors (an embedder, or ``fit(embeddings=...)``) has no
``vectorizer.npz``; its manifest names the embedder (``{"kind", "name"}``: ``"minilm"``, a
sentence-transformers model's name or path, ``"callable"`` or ``"precomputed"``) and the vector
width, and has version 3, so that readers from before it refuse it by version. TF-IDF pipelines
are still written as version 1.

A directory of the user's own codes (:mod:`nash_index.pipeline.codes`) holds only
``index.nidx`` and ``keys.npz``; its manifest has ``"contents": "codes"`` and version 2.

Atomicity: everything is written to a fresh sibling ``.<name>.<pid>.tmp-*`` directory (see
:mod:`nash_index.atomic_io`; a killed save's one is removed by the next save), flushed, and
then renamed into place under a per-target lock; an existing pipeline is first renamed to ``.<name>.previous`` and
deleted only once the new one is in place. If a save is interrupted, ``path`` still holds the old
pipeline, or (in the instant between the two renames) only ``.<name>.previous`` does, which
:func:`open_directory` then reads. A half-written directory never carries the ``path`` name.

Damage: every file is read through :func:`reading` (see :mod:`nash_index.pipeline.loading`), so
truncated, bit-flipped or foreign files raise :class:`PipelineFormatError` naming the file with or
without checksum verification; with verification, every file the pipeline reads must be listed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import numpy as np

from ..atomic_io import fsync_directory, target_lock, temporary_directory
from ..index.base import PathLike

FORMAT = "nash_index.pipeline"
VERSION = 1
#: Directories holding only codes (``contents: "codes"``, :mod:`.codes`) are version 2, so that
#: readers from before them refuse them by version; text pipelines stay version 1.
CODES_VERSION = 2
CODES_CONTENTS = "codes"
#: Pipelines of dense vectors (embedder, stored vectors): version 3, for the same reason.
DENSE_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"
VECTORIZER_FILE = "vectorizer.npz"
INDEX_FILE = "index.nidx"
KEYS_FILE = "keys.npz"
VECTORS_FILE = "vectors.npz"


class PipelineFormatError(ValueError):
    """The directory is not a (complete, uncorrupted, supported) saved pipeline."""


def _backup_of(path: Path) -> Path:
    return path.parent / f".{path.name}.previous"


__all__ = ["UnverifiedFiles", "CODES_CONTENTS", "CODES_VERSION", "DENSE_VERSION", "FORMAT", "INDEX_FILE", "READABLE_VERSIONS",
           "KEYS_FILE", "MANIFEST", "VECTORIZER_FILE", "VECTORS_FILE", "VERSION", "PipelineFormatError",
           "is_member_name", "manifest_entry", "open_directory", "read_manifest", "reading", "save_directory"]


# ---- save --------------------------------------------------------------------------------
def save_directory(path: PathLike, write_contents: Callable[[Path], Dict[str, Any]]) -> None:
    """Writes a pipeline directory at ``path`` atomically (see the module docstring).

    ``write_contents(out)`` writes the components' files into the fresh directory ``out`` and
    returns the manifest's entries; the format, version, date and every file's checksum are added.
    """
    final = Path(path).expanduser().absolute()
    _refuse_non_directory(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_directory(final)  # also removes what killed saves of ``final`` left behind
    try:
        manifest = _jsonable(write_contents(tmp))
        _write_manifest(tmp, manifest)
        _fsync_tree(tmp)
        with target_lock(final):  # concurrent saves of one pipeline take turns at the two renames
            _refuse_non_directory(final)
            _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _refuse_non_directory(final: Path) -> None:
    # One stat: between exists() and is_dir() another save may have moved ``final`` aside.
    try:
        is_dir = stat.S_ISDIR(os.stat(final).st_mode)
    except FileNotFoundError:
        return
    if not is_dir:
        raise FileExistsError(f"{final} exists and is not a directory")


def _write_manifest(out: Path, entries: Dict[str, Any]) -> None:
    from ..version import __version__

    files = {p.relative_to(out).as_posix(): _sha256(p) for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {"format": FORMAT, "version": VERSION, "nash_index_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entries, "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        elif p.is_dir():
            fsync_directory(p)
    fsync_directory(root)


def _swap_into_place(tmp: Path, final: Path) -> None:
    backup = _backup_of(final)
    if final.exists():
        if backup.exists():
            shutil.rmtree(backup)  # left by an earlier interrupted save; ``final`` is complete
        os.replace(final, backup)
    os.replace(tmp, final)
    fsync_directory(final.parent)  # the renames themselves survive a crash after save() returns
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
def open_directory(path: PathLike, verify: bool = True) -> Tuple[Path, Dict[str, Any]]:
    """``(directory, manifest)`` of a saved pipeline, after format, version and (with ``verify``)
    checksum checks; the backup of an interrupted save is read when ``path`` is missing."""
    src = _resolve(Path(path).expanduser())
    manifest = read_manifest(src)
    if verify:
        _verify_files(src, manifest)
    return src, manifest


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
    if manifest.get("version") not in READABLE_VERSIONS:
        raise PipelineFormatError(f"'{src}' has pipeline format version {manifest.get('version')}; "
                                  f"this nash_index reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files or not all(
            is_member_name(k) and isinstance(v, str) for k, v in files.items()):
        raise PipelineFormatError(f"'{src / MANIFEST}' has no valid 'files' list (relative name -> SHA-256) "
                                  "of the pipeline's files")
    return manifest


def is_member_name(name: Any) -> bool:
    """A file name a manifest may list: relative, inside the directory (no ``..``), printable."""
    return (isinstance(name, str) and bool(name) and name.isprintable() and not name.startswith(("/", "\\"))
            and ".." not in Path(name).parts)


def manifest_entry(manifest: Dict[str, Any], name: str) -> Dict[str, Any]:
    """The manifest's object ``name`` (KeyError when absent: read inside :func:`reading`)."""
    entry = manifest[name]
    if not isinstance(entry, dict):
        raise ValueError(f"the '{name}' entry must be an object, got {type(entry).__name__}")
    return entry


def _verify_files(src: Path, manifest: Dict[str, Any]) -> None:
    for name, digest in manifest["files"].items():
        p = src / name
        if not p.is_file():
            raise PipelineFormatError(f"{src}: file {name} is missing")
        if _sha256(p) != digest:
            raise PipelineFormatError(f"{src}: file {name} is corrupted (checksum mismatch)")


class UnverifiedFiles:
    """The files of a directory loaded with ``verify=False``: checked against the manifest they were
    loaded with before anything read from them is saved (a damaged file would otherwise be written
    back under a fresh checksum, and pass every later verification). Each file must still be the
    one that was read (same inode, size and modification time: not replaced since) and match its
    checksum. The index file is left to the index, which checks the bytes it was loaded from
    (:func:`nash_index.load`)."""

    def __init__(self, src: Path, manifest: Dict[str, Any]) -> None:
        self.src = src
        self.files = {name: (digest, _identity(src / name)) for name, digest in manifest["files"].items()
                      if name != INDEX_FILE}

    def check(self) -> None:
        """PipelineFormatError naming the first file that is not the one read or fails its checksum."""
        for name, (digest, identity) in self.files.items():
            p = self.src / name
            if _identity(p) != identity or _sha256(p) != digest:
                raise PipelineFormatError(
                    f"cannot save: this was loaded with verify=False from '{self.src}', whose {name} does not "
                    "match its manifest's checksum (damaged, or replaced since the load): saving would write "
                    "what was read from it under a fresh checksum. Load it with verify=True")


def _identity(path: Path) -> Any:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@contextmanager
def reading(src: Path, name: str) -> Iterator[Path]:
    """Yields ``src / name``; whatever damaged content raises while a component reads it (``name``:
    a file, or a few files such as the hasher's) becomes a PipelineFormatError naming it. I/O
    errors stay OSError; a missing torch stays ImportError. Components' messages, which name the
    exact file and array, are kept."""
    try:
        yield src / name
    except (PipelineFormatError, ImportError):
        raise
    except FileNotFoundError as exc:
        raise PipelineFormatError(f"{src}: {_file_of(exc, src, name)} is missing") from None
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise PipelineFormatError(f"{src}: {_file_of(exc, src, name)} is not a file") from None
    except OSError:
        raise
    except Exception as exc:  # untrusted bytes: anything they trigger is damage, not a bug of the caller
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise PipelineFormatError(f"{src}: {name} is damaged or invalid ({detail})") from exc


def _file_of(exc: OSError, src: Path, name: str) -> str:
    """The file an OSError names, relative to the pipeline directory when inside it."""
    if not exc.filename:
        return name
    try:
        return Path(exc.filename).relative_to(src).as_posix()
    except ValueError:
        return str(exc.filename)
