"""Many strings in two arrays: their UTF-8 bytes end to end (uint8) and the offsets where each one
starts (int64, one more than the strings). Memory is the text itself plus 8 bytes a string, not a
Python object per string nor numpy's fixed width (4 bytes times the longest string, for each one);
the arrays are saved as they are (``.npz``, no pickle)."""
from __future__ import annotations

from typing import Iterable, List, Optional

import numpy as np

__all__ = ["Utf8Strings", "encode_strings"]


def encode_strings(values: Iterable[str], name: str) -> "Utf8Strings":
    """``values`` as :class:`Utf8Strings`; ValueError naming ``name[j]`` for a string that has no
    UTF-8 form (a lone surrogate)."""
    encoded: List[bytes] = []
    for j, value in enumerate(values):
        try:
            encoded.append(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name}[{j}] cannot be stored: it is not valid Unicode text ({exc.reason} at "
                             f"character {exc.start})") from None
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return Utf8Strings(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets)


class Utf8Strings:
    """Strings stored as UTF-8 ``data`` (uint8) cut at ``offsets`` (int64, n + 1, from 0 to len(data))."""

    def __init__(self, data: Optional[np.ndarray] = None, offsets: Optional[np.ndarray] = None) -> None:
        self.data = np.zeros(0, dtype=np.uint8) if data is None else data
        self.offsets = np.zeros(1, dtype=np.int64) if offsets is None else offsets

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def __getitem__(self, i: int) -> str:
        return self.data[int(self.offsets[i]):int(self.offsets[i + 1])].tobytes().decode("utf-8")

    @staticmethod
    def join(parts: List["Utf8Strings"]) -> "Utf8Strings":
        """The strings of every part, in order (one copy of all the bytes)."""
        if not parts:
            return Utf8Strings()
        lengths = np.concatenate([np.diff(p.offsets) for p in parts])
        offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Utf8Strings(np.concatenate([p.data for p in parts]), offsets)

    def check(self, where: str) -> None:
        """ValueError naming ``where`` unless the offsets cut valid UTF-8 into whole characters
        (read from a file: untrusted)."""
        offsets, size = self.offsets, self.data.shape[0]
        if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[0] != 0 or offsets[-1] != size or \
                np.any(np.diff(offsets) < 0):
            raise ValueError(f"{where}: offsets must rise from 0 to the {size} bytes of text")
        starts = offsets[:-1][offsets[:-1] < size]
        if np.any((self.data[starts] & 0xC0) == 0x80):  # a string would start inside a character
            raise ValueError(f"{where}: a string starts inside a UTF-8 character")
        try:
            self.data.tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{where}: not valid UTF-8 at byte {exc.start}") from None
