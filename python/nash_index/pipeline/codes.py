"""An index of codes the user made elsewhere (``nash-index build --codes``): codes + keys, no text
encoder, saved in the pipeline's directory format.

The directory holds ``index.nidx`` and ``keys.npz`` like a text pipeline; its manifest says
``"contents": "codes"`` and has format version 2, so a nash_index that predates codes-only
directories refuses it by its version instead of failing on the missing model. Queries are codes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..index import BaseIndex, make_index, pack_bits
from ..index import load as load_index
from ..index.base import PathLike
from .keys import DocumentKeys, check_keys
from .results import TextSearchResult
from .storage import CODES_CONTENTS, CODES_VERSION, INDEX_FILE, KEYS_FILE, PipelineFormatError, open_directory, reading, save_directory

__all__ = ["CodesIndex", "as_packed_codes", "is_codes_directory"]


def as_packed_codes(array: Any, name: str = "codes") -> np.ndarray:
    """Packed uint8 codes (n, nbits // 8) from ``array``: uint8 rows are taken as packed codes
    (``pack_bits`` order), bool or other integer rows as one 0/1 value per bit."""
    arr = np.asarray(array)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (one code per row), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold packed uint8 codes or 0/1 bits (bool or integers), got dtype {arr.dtype}")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} has dtype {arr.dtype}, read as one bit per column, but holds values other than "
                         "0 and 1 (packed codes must have dtype uint8)")
    return pack_bits(arr.astype(np.uint8))


class CodesIndex:
    """An index of your own binary codes with a key per code (no text encoder)."""

    def __init__(self, index: BaseIndex, keys: DocumentKeys) -> None:
        self.index, self._keys = index, keys

    @classmethod
    def build(cls, codes: Any, keys: Optional[Sequence[str]] = None, index: str = "auto") -> "CodesIndex":
        """Indexes ``codes`` (see :func:`as_packed_codes`) under ids 0..n-1; ``keys`` default to ``str(id)``."""
        packed = as_packed_codes(codes)
        keys = check_keys(keys, packed.shape[0])
        idx = make_index(packed.shape[1] * 8, n_expected=packed.shape[0], kind=index)
        ids = np.arange(packed.shape[0], dtype=np.int64)
        idx.add(packed, ids)
        doc_keys = DocumentKeys()
        doc_keys.add(ids.tolist(), keys)
        return cls(idx, doc_keys)

    @property
    def nbits(self) -> int:
        return self.index.nbits

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    def key_of(self, doc_id: int) -> Optional[str]:
        return self._keys.get(doc_id)

    def search(self, codes: Any, k: int = 10) -> TextSearchResult:
        """The ``k`` nearest indexed codes of each query code (rows as :func:`as_packed_codes` reads them)."""
        queries = as_packed_codes(codes, "query codes")
        if queries.shape[1] * 8 != self.nbits:
            raise ValueError(f"the query codes have {queries.shape[1] * 8} bits but the index holds {self.nbits}-bit codes")
        distances, ids = self.index.search(queries, k)
        return TextSearchResult(ids=ids, distances=distances, keys=self._keys.of_rows(ids))

    def save(self, path: PathLike) -> None:
        """Writes the directory atomically (as :meth:`HashingPipeline.save` does)."""
        save_directory(path, self._write_files)

    def _write_files(self, out: Path) -> Dict[str, Any]:
        self.index.save(out / INDEX_FILE)
        self._keys.save(out / KEYS_FILE)
        return {"version": CODES_VERSION, "contents": CODES_CONTENTS, "nbits": self.nbits,
                "index": {"file": INDEX_FILE, "ntotal": self.ntotal, "type": type(self.index).__name__}}

    @classmethod
    def load(cls, path: PathLike, mmap: bool = False, verify: bool = True) -> "CodesIndex":
        """Reads a directory written by :meth:`save`; PipelineFormatError for anything else."""
        src, manifest = open_directory(path, verify)
        if manifest.get("contents") != CODES_CONTENTS:
            raise PipelineFormatError(f"'{src}' is a text pipeline, not an index of codes")
        with reading(src, INDEX_FILE) as p:
            index = load_index(p, mmap=mmap, verify=verify)
        with reading(src, KEYS_FILE) as p:
            keys = DocumentKeys.load(p)
        if set(index.ids().tolist()) != set(keys.ids().tolist()):
            raise PipelineFormatError(f"{src}: the index and {KEYS_FILE} hold different ids")
        return cls(index, keys)


def is_codes_directory(path: PathLike) -> bool:
    """True when ``path`` is a saved :class:`CodesIndex` (its manifest says so)."""
    try:
        _, manifest = open_directory(path, verify=False)
    except (OSError, ValueError):
        return False
    return manifest.get("contents") == CODES_CONTENTS
