"""Naming an input row to the user: which file, which line, for errors of ``encode_to_shards``.

Ray Data reads the inputs in blocks that do not know their file or line; rows are numbered over
the files in sorted path order instead (the order that numbers default ids). These helpers run
in the driver, only once something failed: they read the files again to turn a row number into
``file 'X' line N``, or to find the first line of a JSON Lines file that is not a JSON object.
"""
from __future__ import annotations

import json
from typing import Iterator, Optional, Sequence, Tuple

__all__ = ["RowError", "first_bad_json_row", "locate_row"]


class RowError(ValueError):
    """An error about row ``row`` of the inputs (0-based, over the files in sorted path order):
    the driver names the file and the row within it."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message, row)  # both in args: the error crosses processes pickled
        self.message, self.row = message, row

    def __str__(self) -> str:
        return self.message


def _json_rows(path: str) -> Iterator[Tuple[int, bytes]]:
    """(line number from 1, line) of each non-blank line: a row of JSON Lines (blank lines are skipped)."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def _rows_in(path: str, fmt: str) -> int:
    if fmt == "json":
        return sum(1 for _ in _json_rows(path))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    import numpy as np

    return int(np.load(path, mmap_mode="r").shape[0])


def locate_row(files: Sequence[str], fmt: str, row: int) -> str:
    """``file 'X' line N`` (JSON Lines) or ``file 'X' row N`` (0-based) of input row ``row``."""
    before = 0
    for path in files:
        count = _rows_in(path, fmt)
        if row < before + count:
            if fmt == "json":
                line = next(number for i, (number, _) in enumerate(_json_rows(path)) if i == row - before)
                return f"file '{path}' line {line}"
            return f"file '{path}' row {row - before}"
        before += count
    return f"input row {row}"


def first_bad_json_row(files: Sequence[str]) -> Optional[ValueError]:
    """A ValueError naming the first line of ``files`` that is not a JSON object, else None."""
    for path in files:
        for number, line in _json_rows(path):
            try:
                value = json.loads(line)
            except ValueError as exc:
                return ValueError(f"inputs: file '{path}' line {number} is not valid JSON ({exc})")
            if not isinstance(value, dict):
                return ValueError(f"inputs: file '{path}' line {number} is not a JSON object "
                                  f"(JSON Lines rows are objects with a {type(value).__name__} here)")
    return None
