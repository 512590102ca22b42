"""An index of codes the user made elsewhere (``nash-index build --codes``): codes + keys, no text
encoder, saved in the pipeline's directory format.

The directory holds ``index.nidx`` and ``keys.npz`` like a text pipeline (written and read by its
:class:`~nash_index.pipeline.documents.DocumentStore`); its manifest says ``"contents": "codes"``
and has format version 2, so a nash_index that predates codes-only directories refuses it by its
version instead of failing on the missing model. Queries are codes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..index import BaseIndex
from ..index.base import PathLike
from ..index.validation import check_nbits
from .documents import DocumentStore
from .inputs import as_packed_codes
from .keys import check_keys
from .results import TextSearchResult
from .storage import (
    CODES_CONTENTS,
    CODES_VERSION,
    INDEX_FILE,
    MANIFEST,
    PipelineFormatError,
    UnverifiedFiles,
    open_directory,
    reading,
    save_directory,
)

__all__ = ["CodesIndex", "as_packed_codes", "is_codes_directory"]


class CodesIndex:
    """An index of your own binary codes with a key per code (no text encoder)."""

    def __init__(self, documents: DocumentStore, unverified: Optional[UnverifiedFiles] = None) -> None:
        self.documents = documents
        self._unverified = unverified  # loaded with verify=False: checked before a save writes it back

    @classmethod
    def build(cls, codes: Any, keys: Optional[Sequence[str]] = None, index: str = "auto") -> "CodesIndex":
        """Indexes ``codes`` (see :func:`as_packed_codes`) under ids 0..n-1; ``keys`` default to ``str(id)``."""
        packed = as_packed_codes(codes)
        keys = check_keys(keys, packed.shape[0])
        documents = DocumentStore(packed.shape[1] * 8, index)
        documents.add(np.arange(packed.shape[0], dtype=np.int64), packed, keys)
        return cls(documents)

    @property
    def index(self) -> BaseIndex:
        return self.documents.index  # type: ignore[return-value]

    @property
    def nbits(self) -> int:
        return self.documents.nbits

    @property
    def ntotal(self) -> int:
        return self.documents.ntotal

    def key_of(self, doc_id: int) -> Optional[str]:
        return self.documents.key_of(doc_id)

    def search(self, codes: Any, k: int = 10) -> TextSearchResult:
        """The ``k`` nearest indexed codes of each query code (rows as :func:`as_packed_codes` reads them)."""
        return self.documents.search_codes(codes, k)

    def save(self, path: PathLike) -> None:
        """Writes the directory atomically (as :meth:`HashingPipeline.save` does)."""
        if self._unverified is not None:
            self._unverified.check()
            self._unverified = None
        save_directory(path, self._write_files)

    def _write_files(self, out: Path) -> Dict[str, Any]:
        index_entry, _ = self.documents.save(out)
        return {"version": CODES_VERSION, "contents": CODES_CONTENTS, "nbits": self.nbits, "index": index_entry}

    @classmethod
    def load(cls, path: PathLike, mmap: bool = False, verify: bool = True) -> "CodesIndex":
        """Reads a directory written by :meth:`save`; PipelineFormatError for anything else."""
        src, manifest = open_directory(path, verify)
        if manifest.get("contents") != CODES_CONTENTS:
            raise PipelineFormatError(f"'{src}' is a text pipeline, not an index of codes")
        with reading(src, MANIFEST):
            nbits = check_nbits(manifest["nbits"])
        documents = DocumentStore.load(src, ({"file": INDEX_FILE}, None), nbits, "auto", None, mmap=mmap, verify=verify)
        return cls(documents, None if verify else UnverifiedFiles(src, manifest))


def is_codes_directory(path: PathLike) -> bool:
    """True when ``path`` is a saved :class:`CodesIndex` (its manifest says so)."""
    try:
        _, manifest = open_directory(path, verify=False)
    except (OSError, ValueError):
        return False
    return manifest.get("contents") == CODES_CONTENTS
