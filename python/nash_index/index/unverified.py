"""What an index loaded with ``verify=False`` remembers of its file, so that a damaged file's
contents are never written back under fresh checksums (``save``, pickling, ``copy``)."""
from __future__ import annotations

from typing import Any

__all__ = ["UnverifiedSource"]


class UnverifiedSource:
    """The file an index was loaded from without checksum verification. A mapped file is kept
    (its pages are the index's own) and checked when the index is first written; a file read
    into memory is checked at once (its bytes are in memory: no second read), and only the
    answer is kept."""

    def __init__(self, path: str, file: Any) -> None:
        self.path = path
        self.file = file if file.is_mapped else None
        self.damaged = None if file.is_mapped else list(file.damaged_sections())

    def check(self, action: str) -> None:
        damaged = self.damaged if self.file is None else list(self.file.damaged_sections())
        if damaged:
            raise ValueError(f"cannot {action}: this index was loaded with verify=False from '{self.path}', whose "
                             f"section(s) {damaged} fail their checksums (the file is damaged); writing it would "
                             "make the damage permanent under a fresh checksum. Rebuild the index from its codes")
