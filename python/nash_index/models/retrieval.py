"""Validation retrieval: precision@k of query codes against a database of codes.

Used for early stopping and model selection. Retrieval goes through the C++ ``FlatIndex`` when
the compiled extension is importable, else through an equivalent numpy brute force; both
rank by (Hamming distance, database id), so ties are broken by ascending database index.
"""
from __future__ import annotations

import numpy as np

_CHUNK = 512  # queries per brute-force block: bounds memory at CHUNK x n_db int64


def labels_to_indicator(y: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray]:
    """Normalise labels to a bool indicator matrix.

    Returns ``(indicator (n, n_labels), multilabel, classes)``: a 1-D array is single-label
    (classes are its sorted unique values), a 2-D 0/1 array is multi-label.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        classes, inverse = np.unique(y, return_inverse=True)
        ind = np.zeros((y.shape[0], classes.shape[0]), dtype=bool)
        ind[np.arange(y.shape[0]), inverse] = True
        return ind, False, classes
    if y.ndim == 2:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("2-D labels must be a 0/1 indicator matrix")
        return y.astype(bool), True, np.arange(y.shape[1])
    raise ValueError(f"labels must be 1-D (classes) or 2-D (indicator), got shape {y.shape}")


def _top_k_numpy(db_bits: np.ndarray, q_bits: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k nearest database rows per query, ordered by (distance, id)."""
    db = db_bits.astype(np.float32)
    n_db = db.shape[0]
    out = np.empty((q_bits.shape[0], k), dtype=np.int64)
    ids = np.arange(n_db, dtype=np.int64)
    for start in range(0, q_bits.shape[0], _CHUNK):
        q = q_bits[start:start + _CHUNK].astype(np.float32)
        dist = q @ (1.0 - db).T + (1.0 - q) @ db.T  # Hamming distance, exact in float32
        key = np.rint(dist).astype(np.int64) * n_db + ids  # unique keys: (distance, id) order
        part = np.argpartition(key, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(key, part, axis=1), axis=1)
        out[start:start + q.shape[0]] = np.take_along_axis(part, order, axis=1)
    return out


def _top_k_index(db_bits: np.ndarray, q_bits: np.ndarray, k: int):
    """Same as ``_top_k_numpy`` through ``nash_index.FlatIndex``; None when unavailable."""
    try:
        import nash_index as ni
        flat_index, pack = ni.FlatIndex, ni.pack_bits
    except (ImportError, AttributeError):
        return None
    if db_bits.shape[1] % 8:
        return None
    index = flat_index(db_bits.shape[1])
    index.add(pack(db_bits))
    _, ids = index.search(pack(q_bits), k)
    return np.asarray(ids, dtype=np.int64)


def precision_at_k(db_bits: np.ndarray, db_labels: np.ndarray, q_bits: np.ndarray,
                   q_labels: np.ndarray, k: int = 100) -> float:
    """Mean over queries of (relevant among the top k) / k; relevant = shares a label.

    ``*_bits`` are 0/1 arrays (n, nbits); ``*_labels`` are bool indicator matrices.
    """
    k = min(k, db_bits.shape[0])
    ids = _top_k_index(db_bits, q_bits, k)
    if ids is None:
        ids = _top_k_numpy(db_bits, q_bits, k)
    hits = np.zeros(ids.shape, dtype=bool)
    for j in range(db_labels.shape[1]):  # label-wise: avoids a (n_q, k, n_labels) tensor
        hits |= q_labels[:, j:j + 1] & db_labels[ids, j]
    return float(hits.sum(axis=1).mean() / k)
