"""The float vectors of indexed documents, kept beside the index for rescoring.

``HashingPipeline(store_vectors=True)`` keeps each added document's vector as float32,
``store_vectors="int8"`` as int8 scaled per vector (``vector ~= int8_row * scale``, scale =
max |x| / 127: a quarter of the memory; on Gaussian vectors of 48 and 384 dimensions cosines moved
by 6e-4 and 3e-4 on average, at most 3e-3). Saved as ``vectors.npz``
(``ids``, ``vectors`` and, for int8, ``scales``).

Rescoring itself is :func:`nash_index.rescore`, which reads a table whose row ``i`` is the vector
of id ``i`` and takes float vectors only. Pipeline ids may be sparse (any int64 >= 0) and vectors
int8, so :func:`rescore_search` gives it the candidates' own vectors as a small table, rows in
ascending id order (rescore breaks cosine ties by row, hence by id), and the Hamming candidates
renumbered to those rows.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy as np

from ..checks import check_stored_array
from ..index import BaseIndex, rescore
from ..index.validation import check_positive_int
from ..text.arrays import read_npz

__all__ = ["VECTOR_DTYPES", "RescoredHits", "StoredVectors", "check_rescore", "check_store_vectors", "rescore_search"]

#: ``store_vectors`` values -> the stored dtype (False: none kept).
VECTOR_DTYPES = {True: "float32", "float32": "float32", "int8": "int8"}
_INT8_MAX = 127
_PAD_DISTANCE = np.iinfo(np.int32).max


def check_store_vectors(value: Any) -> Optional[str]:
    """``store_vectors`` as the stored dtype (``"float32"``/``"int8"``), or None for False."""
    if value is False or value is None:
        return None
    if isinstance(value, (bool, str)) and value in VECTOR_DTYPES:
        return VECTOR_DTYPES[value]
    raise ValueError(f"store_vectors must be False, True (float32) or 'int8', got {value!r}")


def quantize_int8(vectors: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric int8: ``(rows, scales)`` with ``rows * scales[:, None] ~= vectors``."""
    scales = (np.abs(vectors).max(axis=1) / _INT8_MAX).astype(np.float32) if vectors.size else \
        np.zeros(vectors.shape[0], dtype=np.float32)
    safe = np.where(scales > 0, scales, 1.0)[:, None]  # a zero vector stays zero
    rows = np.clip(np.rint(vectors / safe), -_INT8_MAX, _INT8_MAX).astype(np.int8)
    return rows, scales


class StoredVectors:
    """Vectors by id, rows sorted by ascending id; ``dtype`` ``"float32"`` or ``"int8"``."""

    def __init__(self, dtype: str, dim: int, ids: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None,
                 scales: Optional[np.ndarray] = None) -> None:
        self.dtype, self.dim = dtype, int(dim)
        self.ids = np.zeros(0, dtype=np.int64) if ids is None else ids
        self.rows = np.zeros((0, self.dim), dtype=dtype) if rows is None else rows
        self.scales = np.zeros(0, dtype=np.float32) if scales is None and dtype == "int8" else scales

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def emptied(self) -> "StoredVectors":
        """An empty store of the same dtype and width (the index was reset or replaced)."""
        return StoredVectors(self.dtype, self.dim)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Keeps ``vectors`` (float32 (n, dim)) under ``ids`` (new, unique); rows are re-sorted by
        id, a copy of the table per call (add in batches)."""
        rows, scales = quantize_int8(vectors) if self.dtype == "int8" else (vectors.astype(np.float32), None)
        all_ids = np.concatenate([self.ids, ids.astype(np.int64)])
        order = np.argsort(all_ids, kind="stable")
        self.ids, self.rows = all_ids[order], np.concatenate([self.rows, rows])[order]
        if scales is not None:
            self.scales = np.concatenate([self.scales, scales])[order]

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """Float32 vectors of ``ids`` (dequantized for int8); ValueError for an id without one."""
        pos = np.searchsorted(self.ids, ids)
        found = pos < len(self)
        found[found] = self.ids[pos[found]] == ids[found]
        if not found.all():
            raise ValueError(f"no stored vector for id {int(ids[~found][0])} (indexed without its vector, e.g. "
                             "through attach_index)")
        rows = self.rows[pos].astype(np.float32)
        return rows * self.scales[pos, None] if self.dtype == "int8" else rows

    def to_manifest(self, file: str) -> Dict[str, Any]:
        return {"file": file, "dtype": self.dtype, "dim": self.dim, "count": len(self)}

    def save(self, path: Path) -> None:
        extra = {"scales": self.scales} if self.dtype == "int8" else {}
        with open(path, "wb") as fh:
            np.savez(fh, ids=self.ids, vectors=self.rows, **extra)

    @classmethod
    def load(cls, path: Path, entry: Dict[str, Any]) -> "StoredVectors":
        """Inverse of :meth:`save` + :meth:`to_manifest`; ValueError naming ``path`` when damaged."""
        dtype, dim = entry.get("dtype"), entry.get("dim")
        if dtype not in ("float32", "int8") or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"the manifest entry of {path} has invalid dtype {dtype!r} or dim {dim!r}")
        z = read_npz(path, ("ids", "vectors") + (("scales",) if dtype == "int8" else ()))
        ids = check_stored_array(z["ids"], f"{path}: ids", (None,), "iu").astype(np.int64)
        rows = check_stored_array(z["vectors"], f"{path}: vectors", (ids.shape[0], dim), "fiu" if dtype == "float32" else "iu")
        if rows.dtype != np.dtype(dtype):
            raise ValueError(f"{path}: vectors must have dtype {dtype}, got {rows.dtype}")
        if ids.size and (ids[0] < 0 or np.any(np.diff(ids) <= 0)):
            raise ValueError(f"{path}: ids must be >= 0, unique and ascending")
        scales = None
        if dtype == "int8":
            scales = check_stored_array(z["scales"], f"{path}: scales", (ids.shape[0],), "fiu").astype(np.float32)
            if np.any(scales < 0):
                raise ValueError(f"{path}: scales must be >= 0")
        if entry.get("count", ids.shape[0]) != ids.shape[0]:
            raise ValueError(f"{path}: holds {ids.shape[0]} vectors; the manifest says {entry.get('count')}")
        return cls(dtype, dim, ids, rows, scales)


def check_rescore(rescore: Any, k: int, stored: Optional[StoredVectors]) -> Optional[int]:
    """``search(rescore=...)`` as a number of candidates >= k (None: no rescoring)."""
    if rescore is None:
        return None
    n_candidates = check_positive_int(rescore, "rescore")
    if stored is None:
        raise ValueError("rescore needs the documents' float vectors: make the pipeline with store_vectors=True "
                         "(or 'int8') and an embedder (or fit it on embeddings=) before adding them")
    if n_candidates < k:
        raise ValueError(f"rescore (the number of Hamming candidates) must be >= k ({k}), got {n_candidates}")
    return n_candidates


class RescoredHits(NamedTuple):
    """``ids`` int64 (nq, k) by descending cosine (ties by id), ``scores`` float32 cosines,
    ``distances`` int32 Hamming distances of those ids; padding: -1, -inf, INT32_MAX."""

    ids: np.ndarray
    scores: np.ndarray
    distances: np.ndarray


class _CandidateRows:
    """What :func:`nash_index.rescore` searches: the Hamming candidates, as rows of the table."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def search(self, query_codes: Any, k: int, num_threads: Optional[int] = None) -> Any:
        return SimpleNamespace(ids=self.rows)  # rescore reads only the ids


def rescore_search(index: BaseIndex, query_codes: np.ndarray, query_vectors: np.ndarray, stored: StoredVectors,
                   k: int, n_candidates: int, num_threads: Optional[int] = None) -> RescoredHits:
    """The ``k`` best of each query's ``n_candidates`` Hamming neighbours by exact cosine."""
    hits = index.search(query_codes, n_candidates, num_threads=num_threads)
    candidate_ids = np.unique(hits.ids[hits.ids >= 0])  # ascending: row order is id order
    table = stored.vectors_of(candidate_ids)
    rows = np.where(hits.ids >= 0, np.searchsorted(candidate_ids, hits.ids), -1)
    result = rescore(_CandidateRows(rows), query_codes, query_vectors, table, k,  # type: ignore[arg-type]
                     candidates=n_candidates)
    ids = np.where(result.ids >= 0, candidate_ids[np.maximum(result.ids, 0)] if candidate_ids.size else -1, -1)
    distances = np.full(ids.shape, _PAD_DISTANCE, dtype=np.int32)
    for q in range(ids.shape[0]):  # each kept id's Hamming distance, looked up in its candidate row
        kept = ids[q] >= 0
        order = np.argsort(hits.ids[q], kind="stable")
        at = order[np.searchsorted(hits.ids[q], ids[q, kept], sorter=order)]
        distances[q, kept] = hits.distances[q, at]
    return RescoredHits(ids.astype(np.int64), result.scores, distances)
