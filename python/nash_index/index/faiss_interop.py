"""Conversions between faiss's binary indexes and :class:`FlatIndex` (faiss is optional).

Supported: ``faiss.IndexBinaryFlat`` and ``faiss.IndexBinaryIDMap`` (or ``IndexBinaryIDMap2``) over an
``IndexBinaryFlat``, as objects or as files written by ``faiss.write_index_binary``. faiss is
imported on first use only: ``pip install 'nash_index[faiss]'`` (or faiss-cpu) to use them.

Codes are copied byte for byte, so every Hamming distance is the same on both sides. (faiss packs
bit j of a code at bit ``j % 8`` of byte ``j // 8``, least significant first; :func:`pack_bits` uses
numpy's "big" order. The bytes, and so the distances, do not depend on that convention; read faiss's
bits with ``np.unpackbits(codes, axis=1, bitorder="little")``.)
"""
from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import numpy as np

from .base import BaseIndex, PathLike
from .flat import FlatIndex

__all__ = ["FAISS_EXTRA", "SUPPORTED_FAISS_TYPES", "from_faiss", "read_faiss", "to_faiss"]

#: How to install faiss (named by the ImportError when it is missing).
FAISS_EXTRA = "pip install 'nash_index[faiss]'"
#: What :func:`from_faiss` and :func:`read_faiss` accept (named by their errors).
SUPPORTED_FAISS_TYPES = "IndexBinaryFlat, IndexBinaryIDMap(IndexBinaryFlat) and IndexBinaryIDMap2(IndexBinaryFlat)"


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(f"faiss interop needs the faiss package: {FAISS_EXTRA} (or pip install faiss-cpu)") from exc
    return faiss


def _type_name(obj: Any) -> str:
    return type(obj).__name__


def _unwrap(faiss: Any, index: Any) -> Tuple[Any, Optional[Any]]:
    """The ``IndexBinaryFlat`` holding the codes and the id vector (None: ids are 0..n-1)."""
    if not isinstance(index, faiss.IndexBinary):
        raise TypeError(f"index must be a faiss binary index ({SUPPORTED_FAISS_TYPES}), got {_type_name(index)}")
    index = faiss.downcast_IndexBinary(index)  # a base-class proxy becomes its real type
    if isinstance(index, faiss.IndexBinaryFlat):
        return index, None
    if isinstance(index, faiss.IndexBinaryIDMap):
        inner = faiss.downcast_IndexBinary(index.index)
        if isinstance(inner, faiss.IndexBinaryFlat):
            return inner, index.id_map
        raise TypeError(f"{_type_name(index)} over {_type_name(inner)} is not supported; supported: {SUPPORTED_FAISS_TYPES}")
    raise TypeError(f"faiss {_type_name(index)} is not supported; supported: {SUPPORTED_FAISS_TYPES}")


def _vector_view(faiss: Any, vector: Any, count: int, dtype: Any) -> np.ndarray:
    """The first ``count`` items of a faiss C++ vector as a numpy view of its memory (no copy)."""
    if count == 0:
        return np.zeros(0, dtype=dtype)
    view = faiss.rev_swig_ptr(vector.data(), count)
    if view.dtype != dtype:  # never expected: a faiss build whose vector holds another type
        raise TypeError(f"faiss vector holds {view.dtype}, expected {np.dtype(dtype)}")
    return view


def from_faiss(index: Any) -> FlatIndex:
    """A :class:`FlatIndex` with the codes (and ids) of a faiss binary index.

    ``index``: ``faiss.IndexBinaryFlat`` (ids 0..n-1) or ``faiss.IndexBinaryIDMap`` /
    ``IndexBinaryIDMap2`` over one (its ids, which must be unique and >= 0 here). The codes and
    ids are read through views of faiss's memory and copied once, into the new index; the faiss
    index is left as it was. TypeError names any other type.

    >>> import faiss, numpy as np, nash_index as ni
    >>> codes = np.random.default_rng(0).integers(0, 256, (1000, 8), dtype=np.uint8)
    >>> flat = faiss.IndexBinaryFlat(64); flat.add(codes)
    >>> distances, ids = ni.from_faiss(flat).search(codes[:5], 10)
    >>> faiss_distances, faiss_ids = flat.search(codes[:5], 10)
    >>> bool((distances == faiss_distances).all() and (ids == faiss_ids).all())
    True
    """
    faiss = _faiss()
    flat, id_vector = _unwrap(faiss, index)
    n, code_size = int(flat.ntotal), int(flat.code_size)
    codes = _vector_view(faiss, flat.xb, n * code_size, np.uint8).reshape(n, code_size)
    ids = None if id_vector is None else _vector_view(faiss, id_vector, n, np.int64)
    out = FlatIndex(int(flat.d))
    try:
        out.add(codes, ids)
    except ValueError as exc:
        raise ValueError(f"the faiss index's {exc}") from None
    return out


def to_faiss(index: BaseIndex) -> Any:
    """The codes and ids of any nash_index index as a faiss binary index.

    Ids 0..n-1 (in any storage order) give a ``faiss.IndexBinaryFlat`` with code i at position i;
    other ids give a ``faiss.IndexBinaryIDMap`` over one, holding the same ids. faiss copies the
    codes into its own storage (``index`` is unchanged). Write the result with
    ``faiss.write_index_binary``; :func:`read_faiss` reads it back.
    """
    faiss = _faiss()
    if not isinstance(index, BaseIndex):
        raise TypeError(f"index must be a nash_index index (FlatIndex, MultiIndexHashing, ...), got {_type_name(index)}")
    codes, ids = index.codes(), index.ids()
    flat = faiss.IndexBinaryFlat(index.nbits)
    positions = np.arange(ids.size)
    if not np.array_equal(ids, positions):
        order = np.argsort(ids)
        if np.array_equal(ids[order], positions):  # ids 0..n-1 in another order: store code i at position i
            codes, ids = np.ascontiguousarray(codes[order]), positions
    if np.array_equal(ids, positions):  # positions are the ids: no id map needed
        if ids.size:
            flat.add(codes)
        return flat
    mapped = faiss.IndexBinaryIDMap(flat)  # faiss's wrapper keeps a reference to ``flat``
    if ids.size:
        mapped.add_with_ids(codes, ids)
    return mapped


def read_faiss(path: PathLike) -> FlatIndex:
    """A :class:`FlatIndex` from a file written by ``faiss.write_index_binary`` (the types of :func:`from_faiss`)."""
    faiss = _faiss()
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"no faiss index file at '{name}'")
    try:
        index = faiss.read_index_binary(name)
    except RuntimeError as exc:  # faiss reports a bad file as a RuntimeError with its C++ context
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"'{name}' is not a faiss binary index file ({reason})") from None
    return from_faiss(index)
