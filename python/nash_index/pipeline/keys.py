"""Document keys of an indexed pipeline: the id -> key map (titles, file names) that search returns,
and optionally an excerpt of each document's text, saved as ``keys.npz``.

Format 2 (``keys_format = [2, keys_are_ids]``): ``ids``, the keys' UTF-8 ``key_bytes`` and
``key_offsets`` (absent when every key is ``str(id)``), and ``text_ids`` / ``text_bytes`` /
``text_offsets`` when excerpts are stored. Files written before it (fixed-width unicode arrays
``keys``, ``texts``; every key took 4 bytes times the longest one) still load.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np

from ..checks import check_stored_array
from ..index.validation import INT64_MAX, as_ids
from ..text.arrays import read_npz
from .strings import Utf8Strings, encode_strings

__all__ = ["EXCERPT_CHARS", "DocumentKeys", "check_ids", "check_keys", "excerpt"]

#: Characters of a document kept for display (enough to recognise it, small beside the codes).
EXCERPT_CHARS = 300


def excerpt(text: str, width: int = EXCERPT_CHARS) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to ``width`` characters."""
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= width else one_line[:width - 3] + "..."


def check_ids(ids: Any, n: int, name: str = "ids") -> np.ndarray:
    """``ids`` as int64 if they are ``n`` unique integers in [0, 2**63): the index layer's check
    (:func:`~nash_index.index.validation.as_ids`), so the pipeline refuses what the index would."""
    return as_ids(ids, n, name)


def check_keys(keys: Any, n: int) -> Optional[List[str]]:
    """``keys`` as ``n`` strings (``str(k)`` of each), or None; not one string; each with a UTF-8
    form (no lone surrogate)."""
    if keys is None:
        return None
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a sequence of keys, one per text, not one string")
    out = [str(k) for k in keys]
    if len(out) != n:
        raise ValueError(f"got {len(out)} keys for {n} texts")
    try:
        "".join(out).encode("utf-8")  # one pass; keys are stored as UTF-8
    except UnicodeEncodeError:
        encode_strings(out, "keys")  # raises, naming the key
    return out


class DocumentKeys:
    """Maps each indexed id (>= 0) to its key (``str(id)`` unless given) and optionally an excerpt
    of its text; saved as one ``.npz``.

    Held as arrays, not a Python object per document: the ids (int64, insertion order), the keys
    as :class:`~nash_index.pipeline.strings.Utf8Strings` (none at all while every key is
    ``str(id)``: an attached index's 10^7 ids cost 80 MB, not a string each), the excerpts the
    same way. Adds are kept as parts and joined on the next lookup (one sort per batch of adds).
    """

    def __init__(self, keys: Optional[Dict[int, str]] = None, texts: Optional[Dict[int, str]] = None) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._keys: Optional[Utf8Strings] = None  # None: every key is str(id)
        self._parts: List[Tuple[np.ndarray, Optional[Utf8Strings]]] = []  # added since the last join
        self._text_ids = np.zeros(0, dtype=np.int64)
        self._texts = Utf8Strings()
        self._text_parts: List[Tuple[np.ndarray, Utf8Strings]] = []
        self._lookup: Optional[Tuple[np.ndarray, np.ndarray]] = None  # (sorted ids, their rows)
        self._text_lookup: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self._max_id = -1
        if keys:
            self.add(list(keys), list(keys.values()))
            with_text = [i for i in keys if i in (texts or {})]  # only ids that have a key keep a text
            if with_text:
                self._add_texts(np.asarray(with_text, dtype=np.int64), [texts[i] for i in with_text], raw=True)

    @classmethod
    def of_ids(cls, ids: np.ndarray) -> "DocumentKeys":
        """The keys of an attached index: ``str(id)`` for each of ``ids``, none stored."""
        out = cls()
        ids = check_ids(ids, len(ids))
        out._ids, out._max_id = ids, (int(ids.max()) if ids.size else -1)
        return out

    def __len__(self) -> int:
        return int(self._ids.shape[0]) + sum(len(p[0]) for p in self._parts)

    def __contains__(self, doc_id: int) -> bool:
        return self._row_of(int(doc_id)) >= 0

    def ids(self) -> np.ndarray:
        """Every id, int64, in insertion order."""
        self._join()
        return self._ids.copy()

    def get(self, doc_id: int) -> Optional[str]:
        """The key of ``doc_id`` (None if absent)."""
        row = self._row_of(int(doc_id))
        return None if row < 0 else self._key_at(row)

    def of_rows(self, ids: np.ndarray) -> List[List[Optional[str]]]:
        """The key of every id in each row of a search result (None for the padding id -1 and ids
        without a key)."""
        ids = np.asarray(ids, dtype=np.int64)
        rows = self._rows_of(ids.ravel()).reshape(ids.shape).tolist()
        return [[self._key_at(r) if r >= 0 else None for r in row] for row in rows]

    def text(self, doc_id: int) -> Optional[str]:
        """The stored excerpt of ``doc_id``'s text (None if none was stored)."""
        self._join()
        if self._text_lookup is None:
            order = np.argsort(self._text_ids, kind="stable")
            self._text_lookup = (self._text_ids[order], order)
        row = _find(self._text_lookup, np.asarray([int(doc_id)], dtype=np.int64))[0]
        return None if row < 0 else self._texts[row]

    @property
    def has_texts(self) -> bool:
        """True when some document's excerpt is stored."""
        return bool(self._text_ids.size) or any(len(p[0]) for p in self._text_parts)

    def next_ids(self, n: int) -> np.ndarray:
        """``n`` consecutive ids after the largest so far (0, 1, ... when empty)."""
        start = self._max_id + 1
        if start + n - 1 > INT64_MAX:
            raise ValueError(f"no room for {n} more ids after the largest id {start - 1}")
        return np.arange(start, start + n, dtype=np.int64)

    def check_new(self, ids: Any, n: int) -> np.ndarray:
        """``ids`` as int64 if they are ``n`` unique integers >= 0 none of which is already present."""
        arr = check_ids(ids, n)
        if np.any(self._rows_of(arr) >= 0):
            raise ValueError("ids must be unique and not already in the index")
        return arr

    def add(self, ids: Iterable[int], keys: Optional[List[str]] = None, texts: Optional[List[str]] = None) -> None:
        """Records ``keys[j]`` (default ``str(id)``) for the j-th of ``ids`` (each >= 0), and an
        excerpt of ``texts[j]`` when texts are given."""
        arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=np.int64)
        arr = check_ids(arr, arr.shape[0])
        keys = check_keys(keys, len(arr))
        if texts is not None and len(texts) != len(arr):
            raise ValueError(f"got {len(texts)} texts for {len(arr)} ids")
        encoded = None if keys is None else encode_strings(keys, "keys")
        if texts is not None:
            self._add_texts(arr, texts)
        self._parts.append((arr.copy(), encoded))
        self._lookup = None
        if arr.size:
            self._max_id = max(self._max_id, int(arr.max()))

    def _add_texts(self, ids: np.ndarray, texts: List[str], raw: bool = False) -> None:
        values = texts if raw else [excerpt(t) for t in texts]
        self._text_parts.append((ids.copy(), encode_strings(values, "texts")))
        self._text_lookup = None

    # ---- lookups ----------------------------------------------------------------------
    def _join(self) -> None:
        """Joins the parts added since the last lookup into the arrays."""
        if self._parts:
            parts, self._parts = [(self._ids, self._keys)] + self._parts, []
            self._ids = np.concatenate([p[0] for p in parts])
            if all(k is None for _, k in parts):
                self._keys = None
            else:
                self._keys = Utf8Strings.join([k if k is not None else _id_strings(i) for i, k in parts])
        if self._text_parts:
            parts_t, self._text_parts = [(self._text_ids, self._texts)] + self._text_parts, []
            self._text_ids = np.concatenate([p[0] for p in parts_t])
            self._texts = Utf8Strings.join([strings for _, strings in parts_t])
            self._text_lookup = None

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The row of each of ``ids`` (-1: absent)."""
        self._join()
        if self._lookup is None:
            order = np.argsort(self._ids, kind="stable")
            self._lookup = (self._ids[order], order)
        return _find(self._lookup, ids)

    def _row_of(self, doc_id: int) -> int:
        return int(self._rows_of(np.asarray([doc_id], dtype=np.int64))[0])

    def _key_at(self, row: int) -> str:
        return str(int(self._ids[row])) if self._keys is None else self._keys[row]

    # ---- file -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Writes the keys file (format :data:`KEYS_FORMAT`; see :meth:`load`)."""
        self._join()
        arrays = {"ids": self._ids, "keys_format": np.array([KEYS_FORMAT, int(self._keys is None)], dtype=np.int64)}
        if self._keys is not None:
            arrays.update(key_bytes=self._keys.data, key_offsets=self._keys.offsets)
        if self._text_ids.size:
            arrays.update(text_ids=self._text_ids, text_bytes=self._texts.data, text_offsets=self._texts.offsets)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> "DocumentKeys":
        """Inverse of :meth:`save`, and reads the files written before it (one fixed-width unicode
        array ``keys``, ``texts``); ValueError naming ``path`` when the file is damaged."""
        z = read_npz(path, ("ids",))
        ids = check_stored_array(z["ids"], f"{path}: ids", (None,), "iu")
        try:
            ids = check_ids(ids, ids.shape[0])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        out = cls.of_ids(ids)
        if "keys_format" in z:
            out._keys = _read_v2_keys(z, path, ids.shape[0])
            out._text_ids, out._texts = _read_texts(z, path, ("text_bytes", "text_offsets"), ids)
        else:
            if "keys" not in z:
                raise ValueError(f"'{path}' lacks the array(s) ['keys'] (has {sorted(z)})")
            old = check_stored_array(z["keys"], f"{path}: keys", (ids.shape[0],), "U")
            out._keys = encode_strings(old.tolist(), f"{path}: keys")
            out._text_ids, out._texts = _read_texts(z, path, ("texts",), ids)
        return out


#: Version of the keys file: 2 = UTF-8 bytes and offsets (1, implicit: fixed-width unicode arrays).
KEYS_FORMAT = 2


def _id_strings(ids: np.ndarray, chunk: int = 1 << 20) -> Utf8Strings:
    """``str(id)`` of each id as stored keys (made a chunk at a time: no str per id all at once)."""
    return Utf8Strings.join([encode_strings([str(i) for i in ids[s:s + chunk].tolist()], "keys")
                             for s in range(0, len(ids), chunk)])


def _find(lookup: Tuple[np.ndarray, np.ndarray], ids: np.ndarray) -> np.ndarray:
    """Rows of ``ids`` in a (sorted ids, rows) lookup; -1 where absent."""
    sorted_ids, rows = lookup
    if not sorted_ids.size:
        return np.full(ids.shape, -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
    return np.where(sorted_ids[at] == ids, rows[at], -1)


def _read_v2_keys(z: Dict[str, np.ndarray], path: Path, n: int) -> Optional[Utf8Strings]:
    fmt = check_stored_array(z["keys_format"], f"{path}: keys_format", (2,), "iu")
    if int(fmt[0]) != KEYS_FORMAT or int(fmt[1]) not in (0, 1):
        raise ValueError(f"{path}: keys format {fmt.tolist()} is not one this nash_index reads ([{KEYS_FORMAT}, 0|1])")
    if fmt[1]:
        if "key_bytes" in z or "key_offsets" in z:
            raise ValueError(f"{path}: keys are the ids but key arrays are stored too (damaged)")
        return None
    missing = [name for name in ("key_bytes", "key_offsets") if name not in z]
    if missing:
        raise ValueError(f"'{path}' lacks the array(s) {missing} (has {sorted(z)})")
    return _strings(z, path, "key_bytes", "key_offsets", n)


def _strings(z: Dict[str, np.ndarray], path: Path, data: str, offsets: str, n: int) -> Utf8Strings:
    strings = Utf8Strings(check_stored_array(z[data], f"{path}: {data}", (None,), "u").astype(np.uint8),
                          check_stored_array(z[offsets], f"{path}: {offsets}", (n + 1,), "iu").astype(np.int64))
    strings.check(f"{path}: {data}")
    return strings


def _read_texts(z: Dict[str, np.ndarray], path: Path, names: Tuple[str, ...], ids: np.ndarray
                ) -> Tuple[np.ndarray, Utf8Strings]:
    present = [name for name in ("text_ids", *names) if name in z]
    if not present:
        return np.zeros(0, dtype=np.int64), Utf8Strings()
    if len(present) != 1 + len(names):
        together = " and ".join(repr(name) for name in (*names, "text_ids"))
        raise ValueError(f"{path}: {together} come together, found only {present}")
    text_ids = check_stored_array(z["text_ids"], f"{path}: text_ids", (None,), "iu").astype(np.int64)
    if len(names) == 1:  # the old format
        values = check_stored_array(z[names[0]], f"{path}: texts", (text_ids.shape[0],), "U")
        texts = encode_strings(values.tolist(), f"{path}: texts")
    else:
        texts = _strings(z, path, names[0], names[1], text_ids.shape[0])
    if not np.isin(text_ids, ids).all():
        raise ValueError(f"{path}: text_ids holds ids that have no key")
    return text_ids, texts
