"""Document keys of an indexed pipeline: the id -> key map (titles, file names) that search returns."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import numpy as np

__all__ = ["DocumentKeys"]


class DocumentKeys:
    """Maps each indexed id to its key (``str(id)`` unless given); saved as one ``.npz``."""

    def __init__(self, keys: Optional[Dict[int, str]] = None) -> None:
        self._keys: Dict[int, str] = dict(keys or {})

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, doc_id: int) -> bool:
        return int(doc_id) in self._keys

    def get(self, doc_id: int) -> Optional[str]:
        """The key of ``doc_id`` (None if absent)."""
        return self._keys.get(int(doc_id))

    def next_ids(self, n: int) -> np.ndarray:
        """``n`` consecutive ids after the largest so far (0, 1, ... when empty)."""
        start = (max(self._keys) + 1) if self._keys else 0
        return np.arange(start, start + n, dtype=np.int64)

    def check_new(self, ids: Any, n: int) -> np.ndarray:
        """``ids`` as int64 if they are ``n`` unique integers none of which is already present."""
        arr = np.asarray(ids)
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"ids must be {n} integers, got shape {arr.shape} and dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if np.unique(arr).size != n or any(i in self._keys for i in arr.tolist()):
            raise ValueError("ids must be unique and not already in the index")
        return arr

    def add(self, ids: Iterable[int], keys: Optional[List[str]] = None) -> None:
        """Records ``keys[j]`` (default ``str(id)``) for the j-th of ``ids``."""
        for j, doc_id in enumerate(ids):
            self._keys[int(doc_id)] = keys[j] if keys is not None else str(doc_id)

    def save(self, path: Path) -> None:
        ids = np.fromiter(self._keys.keys(), dtype=np.int64, count=len(self._keys))
        values = np.asarray(list(self._keys.values()), dtype=str) if self._keys else np.zeros(0, dtype="<U1")
        with open(path, "wb") as fh:
            np.savez(fh, ids=ids, keys=values)

    @classmethod
    def load(cls, path: Path) -> "DocumentKeys":
        with np.load(path, allow_pickle=False) as z:
            return cls(dict(zip(z["ids"].tolist(), z["keys"].tolist())))
