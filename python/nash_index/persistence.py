"""Loading saved indexes (any kind) from a file or from bytes."""
from __future__ import annotations

import os
from typing import Union

from . import _core
from ._index_base import BaseIndex, PathLike

__all__ = ["load"]


def _wrap_file(file) -> BaseIndex:
    from .flat import FlatIndex

    if file.kind == _core.KIND_FLAT:
        return FlatIndex._wrap(_core.FlatIndex.from_file(file))
    if file.kind == _core.KIND_MIH:
        from .mih import MultiIndexHashing

        return MultiIndexHashing._wrap(_core.MultiIndexHashing.from_file(file))
    raise ValueError(f"unknown index kind {file.kind} in file")


def load(path: PathLike, mmap: bool = False, *, verify: bool = True) -> BaseIndex:
    """Loads an index written by ``save``.

    ``mmap=True`` maps the code block instead of reading it (the index then
    shares pages with the OS cache; the first ``add``/``remove`` copies it into
    memory). ``verify`` checks every section's checksum (reads the whole file).
    Raises OSError when the file cannot be read and ValueError when it is not a
    valid index (truncated, corrupted, another format version).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no index file at '{path}'")
    return _wrap_file(_core.open_index_file(path, bool(mmap), bool(verify)))


def _from_bytes(data: Union[bytes, bytearray]) -> BaseIndex:
    return _wrap_file(_core.index_file_from_bytes(bytes(data)))
