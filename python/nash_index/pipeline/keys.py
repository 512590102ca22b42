"""Document keys of an indexed pipeline: the id -> key map (titles, file names) that search returns,
and optionally an excerpt of each document's text (``keys.npz`` arrays ``text_ids`` / ``texts``,
absent from files written before they existed, which still load)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import numpy as np

from ..checks import check_stored_array
from ..index.validation import INT64_MAX, as_ids
from ..text.arrays import read_npz

__all__ = ["EXCERPT_CHARS", "DocumentKeys", "check_ids", "check_keys", "excerpt"]

#: Characters of a document kept for display (enough to recognise it, small beside the codes).
EXCERPT_CHARS = 300


def excerpt(text: str, width: int = EXCERPT_CHARS) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to ``width`` characters;
    trailing NULs are dropped (numpy's fixed-width strings could not keep them)."""
    one_line = " ".join(str(text).split())
    return (one_line if len(one_line) <= width else one_line[:width - 3] + "...").rstrip("\x00")


def check_ids(ids: Any, n: int, name: str = "ids") -> np.ndarray:
    """``ids`` as int64 if they are ``n`` unique integers in [0, 2**63): the index layer's check
    (:func:`~nash_index.index.validation.as_ids`), so the pipeline refuses what the index would."""
    return as_ids(ids, n, name)


def check_keys(keys: Any, n: int) -> Optional[List[str]]:
    """``keys`` as ``n`` strings (``str(k)`` of each), or None; not one string, no trailing NUL."""
    if keys is None:
        return None
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a sequence of keys, one per text, not one string")
    out = [str(k) for k in keys]
    if len(out) != n:
        raise ValueError(f"got {len(out)} keys for {n} texts")
    bad = next((j for j, k in enumerate(out) if k.endswith("\x00")), None)
    if bad is not None:  # numpy's fixed-width strings drop trailing NULs: the saved key would differ
        raise ValueError(f"keys[{bad}] ends with a NUL character, which a saved pipeline cannot keep")
    return out


class DocumentKeys:
    """Maps each indexed id (>= 0) to its key (``str(id)`` unless given); saved as one ``.npz``."""

    def __init__(self, keys: Optional[Dict[int, str]] = None, texts: Optional[Dict[int, str]] = None) -> None:
        keys = dict(keys or {})
        check_ids(np.fromiter(keys, dtype=np.int64, count=len(keys)), len(keys))
        self._keys: Dict[int, str] = keys
        self._texts: Dict[int, str] = {i: t for i, t in (texts or {}).items() if i in keys}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, doc_id: int) -> bool:
        return int(doc_id) in self._keys

    def ids(self) -> np.ndarray:
        """Every id, int64, in insertion order."""
        return np.fromiter(self._keys.keys(), dtype=np.int64, count=len(self._keys))

    def get(self, doc_id: int) -> Optional[str]:
        """The key of ``doc_id`` (None if absent)."""
        return self._keys.get(int(doc_id))

    def of_rows(self, ids: np.ndarray) -> List[List[Optional[str]]]:
        """The key of every id in each row of a search result (None for the padding id -1)."""
        get = self._keys.get
        return [[get(i) if i >= 0 else None for i in row] for row in np.asarray(ids).tolist()]

    def text(self, doc_id: int) -> Optional[str]:
        """The stored excerpt of ``doc_id``'s text (None if none was stored)."""
        return self._texts.get(int(doc_id))

    @property
    def has_texts(self) -> bool:
        """True when some document's excerpt is stored."""
        return bool(self._texts)

    def next_ids(self, n: int) -> np.ndarray:
        """``n`` consecutive ids after the largest so far (0, 1, ... when empty)."""
        start = (max(self._keys) + 1) if self._keys else 0
        if start + n - 1 > INT64_MAX:
            raise ValueError(f"no room for {n} more ids after the largest id {start - 1}")
        return np.arange(start, start + n, dtype=np.int64)

    def check_new(self, ids: Any, n: int) -> np.ndarray:
        """``ids`` as int64 if they are ``n`` unique integers >= 0 none of which is already present."""
        arr = check_ids(ids, n)
        if any(i in self._keys for i in arr.tolist()):
            raise ValueError("ids must be unique and not already in the index")
        return arr

    def add(self, ids: Iterable[int], keys: Optional[List[str]] = None, texts: Optional[List[str]] = None) -> None:
        """Records ``keys[j]`` (default ``str(id)``) for the j-th of ``ids`` (each >= 0), and an
        excerpt of ``texts[j]`` when texts are given."""
        id_list = [int(i) for i in ids]
        check_ids(np.asarray(id_list, dtype=np.int64), len(id_list))
        keys = check_keys(keys, len(id_list))
        if texts is not None and len(texts) != len(id_list):
            raise ValueError(f"got {len(texts)} texts for {len(id_list)} ids")
        for j, doc_id in enumerate(id_list):
            self._keys[doc_id] = keys[j] if keys is not None else str(doc_id)
            if texts is not None:
                self._texts[doc_id] = excerpt(texts[j])

    def save(self, path: Path) -> None:
        values = np.asarray(list(self._keys.values()), dtype=str) if self._keys else np.zeros(0, dtype="<U1")
        extra = {}
        if self._texts:  # only then: files without texts stay as before
            extra = {"text_ids": np.fromiter(self._texts, dtype=np.int64, count=len(self._texts)),
                     "texts": np.asarray(list(self._texts.values()), dtype=str)}
        with open(path, "wb") as fh:
            np.savez(fh, ids=self.ids(), keys=values, **extra)

    @classmethod
    def load(cls, path: Path) -> "DocumentKeys":
        """Inverse of :meth:`save`; ValueError naming ``path`` when the file is damaged."""
        z = read_npz(path, ("ids", "keys"))
        ids = check_stored_array(z["ids"], f"{path}: ids", (None,), "iu")
        keys = check_stored_array(z["keys"], f"{path}: keys", (ids.shape[0],), "U")
        try:
            ids = check_ids(ids, ids.shape[0])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        if np.unique(ids).size != ids.size:
            raise ValueError(f"{path}: ids must be unique")
        texts: Dict[int, str] = {}
        if "texts" in z or "text_ids" in z:
            if not ("texts" in z and "text_ids" in z):
                raise ValueError(f"{path}: 'texts' and 'text_ids' come together, found only one of them")
            text_ids = check_stored_array(z["text_ids"], f"{path}: text_ids", (None,), "iu")
            values = check_stored_array(z["texts"], f"{path}: texts", (text_ids.shape[0],), "U")
            if not set(text_ids.tolist()) <= set(ids.tolist()):
                raise ValueError(f"{path}: text_ids holds ids that have no key")
            texts = dict(zip(text_ids.tolist(), values.tolist()))
        return cls(dict(zip(ids.tolist(), keys.tolist())), texts)
