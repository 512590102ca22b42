"""The index interface (:class:`BaseIndex`), the C++ kinds behind it, and loading saved indexes.

:class:`BaseIndex` checks every argument once and calls a kind's hooks; :class:`CoreIndex` is every
kind of the C++ core (it wraps ``self._impl``). The core's registry of kinds (``_core.index_kinds()``:
tag on disk, name) is the one list of kinds: :func:`load` and unpickling rebuild any of them, and a
kind with no Python class of its own (:func:`register_kind`) is served by :class:`GenericCoreIndex`.
The sharded index implements the same interface (:class:`nash_index.distributed.ShardedIndex`).
"""
from __future__ import annotations

import abc
import errno
import os
from typing import Any, Callable, Dict, Optional, Tuple, Type, TypeVar, Union

import numpy as np

from . import _core
from .results import RangeSearchResult, SearchResult
from .unverified import UnverifiedSource
from .validation import (
    INT64_MAX,
    as_code_rows,
    as_ids,
    check_choice,
    check_int,
    check_k,
    check_nbits,
    check_num_threads,
    check_radius,
    ids_to_remove,
)

__all__ = ["BaseIndex", "CoreIndex", "GenericCoreIndex", "PathLike", "from_bytes", "load", "new_index",
           "register_kind", "registered_kinds"]

PathLike = Union[str, "os.PathLike[str]"]
IndexT = TypeVar("IndexT", bound="CoreIndex")

# kind name -> the Python class with that kind's extras (kinds without one: GenericCoreIndex)
_CLASSES: Dict[str, Type["CoreIndex"]] = {}


def registered_kinds() -> Tuple[str, ...]:
    """Names of the index kinds the core registers, in the order of their file tags."""
    return tuple(name for _, name in _core.index_kinds())


def register_kind(name: str) -> Callable[[Type[IndexT]], Type[IndexT]]:
    """Class decorator: ``cls`` is the Python class of the registered C++ kind ``name`` (what
    :func:`new_index` makes and files of that kind load as)."""
    if name not in registered_kinds():
        raise ValueError(f"the core registers no index kind {name!r} (registered: {registered_kinds()})")

    def register(cls: Type[IndexT]) -> Type[IndexT]:
        cls._kind = name
        _CLASSES[name] = cls
        return cls
    return register


def new_index(kind: str, nbits: int, **options: Any) -> "CoreIndex":
    """An empty index of the registered ``kind`` (its class's constructor takes ``options``)."""
    cls = _CLASSES.get(kind)
    return cls(nbits, **options) if cls is not None else GenericCoreIndex(kind, nbits, **options)


class BaseIndex(abc.ABC):
    """The interface every index implements, local or sharded: faiss-like ``add``, ``search ->
    (distances, ids)``, ``range_search``, ``remove``, ``reconstruct``, ``save``.

    The public methods own the argument checks (one validation path for every kind); a kind
    implements the ``_``-prefixed hooks, which receive checked arrays: codes as C-contiguous
    uint8 ``(n, code_size)``, ids as contiguous int64, ``num_threads`` as 0 (all) or 1..1024.
    """

    # -- what a kind implements ------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def nbits(self) -> int:
        """Bits per code."""

    @property
    @abc.abstractmethod
    def ntotal(self) -> int:
        """Number of codes in the index."""

    @abc.abstractmethod
    def _add(self, codes: np.ndarray, ids: Optional[np.ndarray]) -> None:
        """Adds checked codes; ``ids`` None: consecutive after the largest id so far."""

    @abc.abstractmethod
    def _search(self, queries: np.ndarray, k: int, num_threads: int) -> Tuple[np.ndarray, np.ndarray]:
        """(distances int32 (nq, k), ids int64 (nq, k)), rows sorted by (distance, id), padded."""

    @abc.abstractmethod
    def _range_search(self, queries: np.ndarray, radius: int, num_threads: int) -> Tuple[np.ndarray, ...]:
        """(lims, distances, ids) in faiss's CSR layout; ``radius`` is at most nbits."""

    @abc.abstractmethod
    def _remove(self, ids: np.ndarray) -> int:
        """Removes these int64 ids (any, repeats allowed); returns the count removed."""

    @abc.abstractmethod
    def _reconstruct(self, id: int) -> Optional[np.ndarray]:
        """The stored code of ``id`` (0 <= id <= 2**63 - 1), None when absent."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Removes every code."""

    @abc.abstractmethod
    def codes(self) -> np.ndarray:
        """A copy of the stored codes in storage order."""

    @abc.abstractmethod
    def ids(self) -> np.ndarray:
        """Ids of the stored codes in storage order (a copy)."""

    @abc.abstractmethod
    def save(self, path: PathLike) -> None:
        """Writes the index atomically."""

    # -- shared by every kind --------------------------------------------------------------------
    @property
    def code_size(self) -> int:
        """Bytes per packed code (nbits // 8)."""
        return self.nbits // 8

    def __len__(self) -> int:
        return self.ntotal

    def add(self, codes: Any, ids: Optional[Any] = None) -> None:
        """Adds packed codes (uint8, C-contiguous, shape (n, code_size)).

        ``ids`` (any integer dtype, >= 0 and at most 2**63 - 1, unique, not
        already in the index; -1 marks padding in results) default to
        consecutive integers after the largest id so far (0, 1, 2, ... for a
        new index). The codes are copied into the index once.
        """
        rows = as_code_rows(codes, self.code_size, "codes")
        self._add(rows, None if ids is None else as_ids(ids, rows.shape[0]))

    def _checked_queries(self, queries: Any, k: int) -> Tuple[np.ndarray, int]:
        """Queries as (nq, code_size) rows and a checked k: the preamble of every k-NN search."""
        q = as_code_rows(queries, self.code_size, "queries", allow_1d=True)
        return q, check_k(k, q.shape[0])

    def search(self, queries: Any, k: int, *, num_threads: Optional[int] = None) -> SearchResult:
        """Exact k nearest neighbours by Hamming distance.

        ``queries``: uint8 (nq, code_size), or one query as a 1-D array.
        Returns :class:`SearchResult` ``(distances, ids)``, each row sorted by
        (distance, id); rows are padded with id -1 / distance INT32_MAX when
        k > ntotal (k <= 2**31 - 1, and the (nq, k) result must fit in memory:
        MemoryError otherwise). ``num_threads`` caps the threads used (default:
        all; 1..1024, values above the pool's size use the whole pool).
        """
        q, k = self._checked_queries(queries, k)
        distances, ids = self._search(q, k, check_num_threads(num_threads))
        return SearchResult(distances, ids)

    def range_search(self, queries: Any, radius: int, *, num_threads: Optional[int] = None) -> RangeSearchResult:
        """All codes within Hamming distance ``radius`` (inclusive) of each query; radii above nbits act as nbits."""
        q = as_code_rows(queries, self.code_size, "queries", allow_1d=True)
        radius = min(check_radius(radius), self.nbits)
        return RangeSearchResult(*self._range_search(q, radius, check_num_threads(num_threads)))

    def remove(self, ids: Any) -> int:
        """Removes the codes with these ids (an int, or integers in any shape); returns the count removed.

        Ids not in the index match nothing, a repeated id counts once, negative ids are valid there
        (never stored, so they match nothing) and an empty list removes nothing. Values beyond
        int64 are refused.
        """
        return int(self._remove(ids_to_remove(ids)))

    def reconstruct(self, id: int) -> np.ndarray:
        """The stored code of ``id`` (uint8, shape (code_size,)); KeyError when no code has that id."""
        value = check_int(id, "id")
        if not 0 <= value <= INT64_MAX:
            raise KeyError(id)  # never stored: ids are int64 and >= 0
        code = self._reconstruct(value)
        if code is None:
            raise KeyError(id)
        return code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nbits={self.nbits}, ntotal={self.ntotal})"


class CoreIndex(BaseIndex):
    """An index of the C++ core: wraps a ``_core`` index (``self._impl``) that implements every hook."""

    _impl: Any
    _kind = ""  # the registered kind a subclass serves (set by register_kind)
    # What this index was loaded from without verification (load(verify=False)), until checked:
    # nothing loaded-but-unverified is ever written back (save, pickling) under a fresh checksum.
    _unverified: Optional[UnverifiedSource] = None

    def __init__(self, nbits: int) -> None:
        self._impl = _core.create_index(self._kind, check_nbits(nbits), {})

    @classmethod
    def from_impl(cls: Type[IndexT], impl: Any) -> IndexT:
        """Wraps an existing ``_core`` index (as loaded from a file) without copying it."""
        obj = cls.__new__(cls)
        obj._impl = impl
        return obj

    @property
    def kind(self) -> str:
        """The registered kind's name (``"flat"``, ``"mih"``, ...)."""
        return str(self._impl.kind)

    @property
    def nbits(self) -> int:
        """Bits per code."""
        return int(self._impl.nbits)

    @property
    def ntotal(self) -> int:
        """Number of codes in the index."""
        return int(self._impl.ntotal)

    @property
    def is_mapped(self) -> bool:
        """Whether the codes are memory-mapped from a file (``load(..., mmap=True)``, until a change copies them)."""
        return bool(self._impl.is_mapped)

    def _add(self, codes: np.ndarray, ids: Optional[np.ndarray]) -> None:
        self._impl.add(codes, ids)

    def search(self, queries: Any, k: int, *, num_threads: Optional[int] = None) -> SearchResult:
        # The common call (uint8 rows as they are, plain ints) is recognised by the core with no
        # Python-level check: each microsecond under the GIL is one other caller threads queue for.
        # Anything else (None there) takes BaseIndex.search's checks and messages.
        found = self._impl.search_common(queries, k, num_threads)
        return super().search(queries, k, num_threads=num_threads) if found is None else tuple.__new__(SearchResult, found)

    search.__doc__ = BaseIndex.search.__doc__

    def _search(self, queries: np.ndarray, k: int, num_threads: int) -> Tuple[np.ndarray, np.ndarray]:
        return self._impl.search(queries, k, num_threads)

    def _range_search(self, queries: np.ndarray, radius: int, num_threads: int) -> Tuple[np.ndarray, ...]:
        return self._impl.range_search(queries, radius, num_threads)

    def _remove(self, ids: np.ndarray) -> int:
        return self._impl.remove(ids)

    def _reconstruct(self, id: int) -> Optional[np.ndarray]:
        return self._impl.reconstruct(id)

    def reset(self) -> None:
        """Removes every code."""
        self._impl.reset()
        self._unverified = None  # nothing of the loaded file is left

    def codes(self) -> np.ndarray:
        """A copy of the stored codes in storage order (a view would dangle after ``add``)."""
        return self._impl.codes()

    def ids(self) -> np.ndarray:
        """Ids of the stored codes in storage order (a copy)."""
        return self._impl.ids()

    def save(self, path: PathLike) -> None:
        """Writes the index atomically; see :func:`nash_index.load`.

        The bytes go to a new temporary file in the same directory
        (``.<name>.<pid>.tmp-XXXXXX``), which is synced and renamed over
        ``path``; the directory is synced too. Readers see the old file or the
        new one, never a mix; an index memory-mapped from the old file keeps
        reading the old, unchanged bytes. Concurrent saves to one path (threads
        or processes) do not interfere: the last one to finish wins.
        Temporaries left by killed saves of ``path`` are removed by the next save.

        An index loaded with ``verify=False`` is verified first (its file's checksums, once):
        ValueError, and nothing written, when that file was damaged.
        """
        self._check_loaded_bytes("save it")
        self._impl.save(os.fspath(path))

    def _check_loaded_bytes(self, action: str) -> None:
        if self._unverified is not None:
            self._unverified.check(action)
            self._unverified = None

    def __reduce__(self):
        self._check_loaded_bytes("pickle or copy it")
        return (from_bytes, (self._impl.serialize(),))


class GenericCoreIndex(CoreIndex):
    """An index of a registered C++ kind that has no Python class of its own: the shared interface only."""

    def __init__(self, kind: str, nbits: int) -> None:
        self._impl = _core.create_index(check_choice(kind, registered_kinds(), "kind"), check_nbits(nbits), {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, nbits={self.nbits}, ntotal={self.ntotal})"


def _wrap_file(file: Any) -> CoreIndex:
    impl = _core.load_index(file)  # the core refuses files of unregistered kinds
    return _CLASSES.get(impl.kind, GenericCoreIndex).from_impl(impl)


def load(path: PathLike, mmap: bool = False, *, verify: bool = True, populate: bool = False) -> BaseIndex:
    """Loads an index written by ``save``.

    ``mmap=True`` maps the code block instead of reading it (the index then
    shares pages with the OS cache; the first ``add``/``remove`` copies it into
    memory). A mapped file must not be modified in place while the index
    lives: truncating it kills the process (SIGBUS) and overwriting its bytes
    changes search results. Replacing it with :meth:`BaseIndex.save` (or any
    write to a new file renamed over it) is safe: the index keeps the old
    contents. ``verify`` checks every section's checksum (reads the whole file).
    An index loaded with ``verify=False`` is checked when it is first written (``save``,
    pickling, ``copy``): a damaged file's contents are never written back under fresh checksums.
    ``populate=True`` (with ``mmap``) maps every page up front: the load reads
    the whole file, and the first queries then pay no page faults (a server's
    steady state; see bench/bench_billion.py). Files of 2 MiB and more are
    mapped, or read, in 2 MiB pages where the OS allows (Linux: transparent
    huge pages, ``madvise``): multi-index lookups at 10^9 codes miss the TLB on
    4 KiB pages. ``NASH_INDEX_HUGE_PAGES=0`` in the environment turns that off.

    Raises OSError when the file cannot be read (FileNotFoundError when it does
    not exist; a directory, FIFO or other non-regular file is refused without
    blocking) and ValueError when it is not a valid index (truncated,
    corrupted, inconsistent, another format version).
    """
    path = os.fspath(path)
    try:
        file = _core.open_index_file(path, bool(mmap), bool(verify), bool(populate))
    except OSError as exc:
        if _is_missing(path):  # the usual subclass for a missing file (or a dangling link)
            raise FileNotFoundError(errno.ENOENT, f"no index file at '{path}'") from exc
        raise
    index = _wrap_file(file)
    if not verify:
        index._unverified = UnverifiedSource(path, file)
    return index


def _is_missing(path: str) -> bool:
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:  # a symlink loop, a permission problem: the core's message says which
        pass
    return False


def from_bytes(data: Union[bytes, bytearray, memoryview]) -> BaseIndex:
    """Rebuilds an index from the bytes of its file (what pickling an index stores).

    The bytes are checked like a file loaded with ``verify=True``: ValueError
    when they are not a valid index.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, bytearray or memoryview, got {type(data).__name__}")
    view = memoryview(data)
    if not view.contiguous:
        raise ValueError("data must be contiguous")
    return _wrap_file(_core.index_file_from_bytes(view.cast("B") if view.ndim != 1 or view.itemsize != 1 else view))
