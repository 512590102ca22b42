"""Reading text files of one record per line, strictly: lines end at ``\\n`` (or ``\\r\\n``) only,
never at the other characters ``str.splitlines`` breaks on (U+2028, ``\\x0b``, ``\\x0c``, ``\\x85``,
...), which are ordinary characters inside a key, a document or a JSON string; bytes that are not
UTF-8 raise a ValueError naming the file, the line and the byte."""
from __future__ import annotations

from pathlib import Path
from typing import List, Union

__all__ = ["decode_utf8", "split_lines", "utf8_lines"]

_BOM = "\ufeff"


def decode_utf8(data: bytes, path: Union[str, Path]) -> str:
    """``data`` (the bytes of the file at ``path``) as text; a leading byte-order mark is dropped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValueError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte "
                         f"{column} of the line); save the file as UTF-8") from None
    return text[1:] if text.startswith(_BOM) else text


def split_lines(text: str) -> List[str]:
    """The lines of ``text``: cut at ``\\n``, a ``\\r`` before it dropped; a final newline ends the
    last line (it does not start an empty one)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def utf8_lines(path: Union[str, Path]) -> List[str]:
    """The lines of the UTF-8 text file at ``path`` (see :func:`split_lines`)."""
    return split_lines(decode_utf8(Path(path).read_bytes(), path))
