"""Behaviour shared by FlatIndex and MultiIndexHashing (the typed Python layer).

Subclasses set ``self._impl`` to a ``_core`` index exposing add / search /
range_search / remove / reset / save / serialize / codes / ids.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np

from ._validation import as_code_rows, as_ids, check_num_threads, check_positive_int
from .results import RangeSearchResult, SearchResult

PathLike = Union[str, "os.PathLike[str]"]


class BaseIndex:
    _impl: Any

    @property
    def nbits(self) -> int:
        """Bits per code."""
        return int(self._impl.nbits)

    @property
    def code_size(self) -> int:
        """Bytes per packed code (nbits // 8)."""
        return int(self._impl.code_size)

    @property
    def ntotal(self) -> int:
        """Number of codes in the index."""
        return int(self._impl.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    def add(self, codes: Any, ids: Optional[Any] = None) -> None:
        """Adds packed codes (uint8, C-contiguous, shape (n, code_size)).

        ``ids`` (int64, unique, not already in the index) default to
        consecutive integers after the largest id so far (0, 1, 2, ... for a
        new index). The codes are copied into the index once.
        """
        rows = as_code_rows(codes, self.code_size, "codes")
        id_arr = None if ids is None else as_ids(ids, rows.shape[0])
        self._impl.add(rows, id_arr)

    def search(self, queries: Any, k: int, *, num_threads: Optional[int] = None) -> SearchResult:
        """Exact k nearest neighbours by Hamming distance.

        ``queries``: uint8 (nq, code_size), or one query as a 1-D array.
        Returns :class:`SearchResult` ``(distances, ids)``, each row sorted by
        (distance, id); rows are padded with id -1 / distance INT32_MAX when
        k > ntotal. ``num_threads`` caps the threads used (default: all).
        """
        q = as_code_rows(queries, self.code_size, "queries", allow_1d=True)
        k = check_positive_int(k, "k")
        distances, ids = self._impl.search(q, k, check_num_threads(num_threads))
        return SearchResult(distances, ids)

    def range_search(self, queries: Any, radius: int, *, num_threads: Optional[int] = None) -> RangeSearchResult:
        """All codes within Hamming distance ``radius`` (inclusive) of each query."""
        q = as_code_rows(queries, self.code_size, "queries", allow_1d=True)
        if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)):
            raise TypeError(f"radius must be an int, got {type(radius).__name__}")
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        lims, distances, ids = self._impl.range_search(q, int(min(radius, self.nbits)), check_num_threads(num_threads))
        return RangeSearchResult(lims, distances, ids)

    def remove(self, ids: Any) -> int:
        """Removes the codes with these ids; unknown ids are ignored. Returns the count removed."""
        arr = np.asarray(ids)
        if arr.ndim != 1:
            arr = arr.reshape(-1)
        return int(self._impl.remove(as_ids(arr, arr.shape[0])))

    def reset(self) -> None:
        """Removes every code."""
        self._impl.reset()

    def codes(self) -> np.ndarray:
        """A copy of the stored codes in storage order (a view would dangle after ``add``)."""
        return self._impl.codes()

    def ids(self) -> np.ndarray:
        """Ids of the stored codes in storage order (a copy)."""
        return self._impl.ids()

    def save(self, path: PathLike) -> None:
        """Writes the index atomically (temporary file + rename); see :func:`nash_index.load`."""
        self._impl.save(os.fspath(path))

    def __reduce__(self):
        from .persistence import _from_bytes

        return (_from_bytes, (self._impl.serialize(),))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nbits={self.nbits}, ntotal={self.ntotal})"
