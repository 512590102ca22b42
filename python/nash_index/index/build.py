"""Building a :class:`MultiIndexHashing` index file from codes on disk, in bounded memory.

``build_mih_file(source, path)`` streams the codes (a ``.npy`` file, a raw file of packed
codes, an array, or an iterable of chunks) straight into the index file, then builds the
tables inside the file itself and commits it atomically (temporary file, fsync, rename).
Memory stays near the size of the file being written (its pages, which the OS may write
back) plus a chunk and the table build's scratch (8 bytes a code, at most 1 GiB, or the
environment's ``NASH_MIH_BUILD_SCRATCH_MB``): nothing like the index plus a copy of the codes
that ``add`` would need. ``nash_index.load(path, mmap=True)`` then serves the index
without a rebuild: the tables are stored in the file.
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from . import _core
from .base import PathLike
from .dedup import MihDedupIndex
from .factory import DEDUP_MIN_SHARE, duplicate_share
from .validation import as_code_rows, check_m, check_max_key_bits, check_nbits, check_positive_int

__all__ = ["build_mih_file"]

#: Codes per chunk when reading an array or file (8 MB of 64-bit codes).
DEFAULT_CHUNK_CODES = 1 << 20

CodeSource = Union[PathLike, np.ndarray, Iterable[np.ndarray]]


def build_mih_file(
    source: CodeSource,
    path: PathLike,
    *,
    nbits: Optional[int] = None,
    m: Optional[int] = None,
    max_key_bits: Optional[int] = None,
    chunk_codes: int = DEFAULT_CHUNK_CODES,
    progress: bool = True,
    dedup: Union[bool, str] = False,
) -> Path:
    """Writes a :class:`MultiIndexHashing` index file of the codes in ``source``; returns ``path``.

    ``source``: a ``.npy`` file (uint8, shape (n, nbits / 8); read through a memory map), any
    other file of raw packed codes (``nbits`` required), a uint8 array, or an iterable of uint8
    arrays of shape (rows, nbits / 8) (read once, in order). Ids are positions 0..n-1.
    ``m``: tables (None = automatic, by the final count); ``max_key_bits``: as in
    :class:`MultiIndexHashing`. ``progress`` draws a bar on stderr while the tables are built
    (every 30 s a line when stderr is not a terminal). The index holds at most 2^32 - 1 codes.

    ``dedup=True`` writes a :class:`~nash_index.index.dedup.MihDedupIndex` instead (each distinct
    code once with its ids; same results): built in memory chunk by chunk (each chunk's ``add``
    rewrites the id lists, so large ``chunk_codes`` suit it), memory ~8 bytes per code for the ids
    plus the distinct codes and their tables, then saved atomically. ``dedup="auto"`` does so when
    the first chunk's :func:`~nash_index.index.factory.duplicate_share` is at least
    :data:`~nash_index.index.factory.DEDUP_MIN_SHARE`.

    Load the result with ``nash_index.load(path, mmap=True)``.
    """
    chunk_codes = check_positive_int(chunk_codes, "chunk_codes")
    max_key_bits = check_max_key_bits(max_key_bits)
    chunks, nbits = _chunks_of(source, nbits, chunk_codes)
    if dedup not in (True, False, "auto"):
        raise ValueError(f"dedup must be True, False or 'auto', got {dedup!r}")
    if dedup == "auto":
        first = next(chunks, None)
        chunks = itertools.chain([] if first is None else [np.array(first)], chunks)
        dedup = first is not None and duplicate_share(as_code_rows(first, nbits // 8, "source chunk 0")) >= DEDUP_MIN_SHARE
    if dedup:
        return _build_dedup(chunks, path, nbits, m, max_key_bits)
    builder = _core.MihFileBuilder(os.fspath(path), nbits, check_m(m, nbits), max_key_bits)
    try:
        for i, chunk in enumerate(chunks):
            builder.append(as_code_rows(chunk, nbits // 8, f"source chunk {i}"))
        _finish_in_thread(builder, _ProgressLine(f"MIH tables ({builder.count:,} codes)") if progress else None)
    except BaseException:
        builder.close()  # the temporary goes now, not when a traceback that holds the builder is dropped
        raise
    return Path(path)


def _build_dedup(chunks: Iterator[np.ndarray], path: PathLike, nbits: int, m: Optional[int],
                 max_key_bits: int) -> Path:
    index = MihDedupIndex(nbits, m, max_key_bits=max_key_bits or None)
    for i, chunk in enumerate(chunks):
        index.add(as_code_rows(chunk, nbits // 8, f"source chunk {i}"))
    index.save(path)
    return Path(path)


def _chunks_of(source: Any, nbits: Optional[int], chunk_codes: int) -> "tuple[Iterator[np.ndarray], int]":
    """(chunks of rows, nbits) of a source; nbits checked against the data's row width."""
    if isinstance(source, (str, os.PathLike)):
        return _file_chunks(Path(source), nbits, chunk_codes)
    if isinstance(source, np.ndarray):
        arr = source
        if arr.dtype != np.uint8 or arr.ndim != 2:
            raise ValueError(f"source must hold uint8 codes of shape (n, nbits / 8), got {arr.dtype} {arr.shape}")
        nbits = _nbits_of(arr.shape[1], nbits)
        return (arr[i:i + chunk_codes] for i in range(0, len(arr), chunk_codes)), nbits
    if isinstance(source, (bytes, bytearray, dict)) or not hasattr(source, "__iter__"):
        raise TypeError(f"source must be a path, a uint8 array or an iterable of uint8 arrays, got {type(source).__name__}")
    if nbits is None:
        raise ValueError("nbits is required when source is an iterable of chunks")
    return iter(source), check_nbits(nbits)


def _nbits_of(row_bytes: int, nbits: Optional[int]) -> int:
    if nbits is None:
        return check_nbits(row_bytes * 8)
    nbits = check_nbits(nbits)
    if nbits != row_bytes * 8:
        raise ValueError(f"nbits = {nbits} does not match the source's rows of {row_bytes} bytes ({row_bytes * 8} bits)")
    return nbits


#: The first bytes of a NumPy ``.npy`` file and of a zip archive (``.npz``): a file is read by
#: its bytes, never by its name (``codes.NPY`` or a ``.bin`` holding a ``.npy`` array included).
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


def _file_chunks(path: Path, nbits: Optional[int], chunk_codes: int) -> "tuple[Iterator[np.ndarray], int]":
    """Chunks of a .npy or raw codes file, read (not mapped: the source's pages then never count
    in the builder's resident memory, only in the OS cache)."""
    if not path.is_file():
        raise FileNotFoundError(f"source: no codes file at '{path}'")
    with open(path, "rb") as f:
        magic = f.read(len(NPY_MAGIC))
        if magic.startswith(ZIP_MAGIC):
            raise ValueError(f"source '{path}' is a zip archive (.npz?), not a .npy array or raw codes: "
                             "save the codes with numpy.save, or pass the array itself")
        if magic == NPY_MAGIC:
            n, nbits, offset = _npy_layout(path, f, nbits)
        elif path.suffix.lower() == ".npy":
            raise ValueError(f"source '{path}' is named .npy but is not a NumPy .npy file (no NumPy magic bytes)")
        else:
            n, nbits, offset = _raw_layout(path, nbits)
    return _read_rows(path, offset, n, nbits // 8, chunk_codes), nbits


def _npy_layout(path: Path, f: Any, nbits: Optional[int]) -> "tuple[int, int, int]":
    """(rows, nbits, offset of the data) of the ``.npy`` file open in ``f``."""
    f.seek(0)
    try:
        version = np.lib.format.read_magic(f)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f"source '{path}': .npy format version {version} is not supported (1.0 or 2.0)")
        shape, fortran, dtype = readers[version](f)
    except ValueError as exc:
        raise ValueError(f"source '{path}' has a damaged .npy header ({exc})") from None
    if dtype != np.uint8 or len(shape) != 2 or (fortran and shape[0] > 1 and shape[1] > 1):
        raise ValueError(f"source '{path}' must hold C-ordered uint8 codes of shape (n, nbits / 8), got {dtype} {shape}")
    return shape[0], _nbits_of(shape[1], nbits), f.tell()


def _raw_layout(path: Path, nbits: Optional[int]) -> "tuple[int, int, int]":
    """(rows, nbits, 0) of a raw file of packed codes."""
    if nbits is None:
        raise ValueError(f"nbits is required to read raw codes from '{path}' (only .npy files say their shape)")
    nbits = check_nbits(nbits)
    size = path.stat().st_size
    if size % (nbits // 8):
        raise ValueError(f"source '{path}' holds {size} bytes, not a whole number of {nbits}-bit codes")
    return size // (nbits // 8), nbits, 0


def _read_rows(path: Path, offset: int, n: int, code_size: int, chunk_codes: int) -> Iterator[np.ndarray]:
    buffer = np.empty((min(n, chunk_codes), code_size), np.uint8)
    with open(path, "rb") as f:
        f.seek(offset)
        for start in range(0, n, chunk_codes):
            rows = buffer[:min(chunk_codes, n - start)]
            if f.readinto(memoryview(rows).cast("B")) != rows.nbytes:
                raise ValueError(f"source '{path}' is shorter than its header says")
            yield rows


def _finish_in_thread(builder: Any, bar: Optional["_ProgressLine"]) -> None:
    """Runs ``builder.finish()`` (GIL released) in a thread while the caller's thread draws the bar
    and stays interruptible: Ctrl-C (or any exception raised in the caller's thread) cancels the
    build, which then stops at its next stage and never commits the file; the caller's thread
    waits for that (a second Ctrl-C stops the wait; the build still never commits)."""
    failure: list = []

    def finish() -> None:
        try:
            builder.finish()
        except BaseException as e:  # re-raised in the caller's thread
            failure.append(e)

    worker = threading.Thread(target=finish, name="nash_index-build", daemon=True)
    worker.start()
    try:
        while True:
            if bar is not None:
                bar.show(builder.progress_done, builder.progress_total)
            if not worker.is_alive():
                break
            worker.join(0.5)
    except BaseException:
        builder.cancel()  # waits for a commit under way; after it, finish() cannot commit
        worker.join()
        raise
    finally:
        if bar is not None:
            bar.close()
    if failure:
        error = failure.pop()  # out of the list: the traceback's frames must not reach it again
        try:
            raise error
        finally:
            del error, finish


class _ProgressLine:
    """A one-line progress bar on stderr (the index layer needs only numpy: no tqdm here); silent
    when there is no stderr (``sys.stderr`` None: pythonw, a service started with fd 2 closed)."""

    def __init__(self, desc: str) -> None:
        self.desc, self.start, self.shown = desc, time.monotonic(), False
        self.tty = _is_terminal(sys.stderr)
        self.last_line = self.start

    def show(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not total or (not self.tty and now - self.last_line < 30):  # logs: a line every 30 s
            return
        fraction = min(1.0, done / total)
        filled = int(fraction * 30)
        text = f"{self.desc}: |{'#' * filled}{' ' * (30 - filled)}| {fraction:4.0%} {now - self.start:5.0f} s"
        self.shown = _write_stderr(("\r" + text) if self.tty else text + "\n") or self.shown
        self.last_line = now

    def close(self) -> None:
        if self.shown and self.tty:
            _write_stderr("\n")


def _is_terminal(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (OSError, ValueError):  # closed or detached
        return False


def _write_stderr(text: str) -> bool:
    """Writes ``text`` to the current ``sys.stderr``; False when there is none or it fails (a
    progress bar must never fail the build it reports on)."""
    stream = sys.stderr
    if stream is None:
        return False
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        return False
    return True
