"""Labels as bool indicator matrices (n_docs, n_labels): the one home of every label conversion.

Two documents are relevant to each other when their label sets intersect, so every metric and
model works on indicator matrices; these functions build them from what users and corpora have.
"""
from __future__ import annotations

from typing import Any, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

__all__ = ["as_indicator", "indicator_from_label_sets", "joint_indicators", "labels_to_indicator"]


def indicator_from_label_sets(label_sets: Sequence[Sequence[str]], label_names: Sequence[str]) -> np.ndarray:
    """Per-document label lists -> bool indicator (n_docs, len(label_names)).

    Labels not in ``label_names`` are ignored (e.g. Reuters topics outside the 20 kept ones).
    """
    column = {name: j for j, name in enumerate(label_names)}
    out = np.zeros((len(label_sets), len(label_names)), dtype=bool)
    for i, labels in enumerate(label_sets):
        cols = [column[name] for name in labels if name in column]
        out[i, cols] = True
    return out


def labels_to_indicator(y: Any) -> Tuple[np.ndarray, bool, np.ndarray]:
    """Class labels or a 0/1 matrix -> ``(indicator (n, n_labels), multilabel, classes)``.

    A 1-D array is single-label (classes are its sorted unique values, any dtype); a 2-D 0/1
    array is multi-label (classes are its column numbers).
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


def as_indicator(labels: Any, n: int, name: str) -> np.ndarray:
    """A metric's label argument as a bool indicator (n, n_labels).

    Accepts a bool/0-1 matrix (dense or scipy.sparse) or 1-D integer class ids, where a
    negative id means "no label" (such a document is relevant to nothing).
    """
    arr = labels.toarray() if sp.issparse(labels) else np.asarray(labels)
    if arr.ndim == 1:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"1-D {name} must hold integer class ids, got dtype {arr.dtype}")
        n_classes = int(arr.max()) + 1 if arr.size and arr.max() >= 0 else 0
        onehot = np.zeros((arr.shape[0], n_classes), dtype=bool)
        has = arr >= 0
        onehot[np.flatnonzero(has), arr[has]] = True
        arr = onehot
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D class ids or a 2-D indicator matrix, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but there are {n} codes")
    return arr.astype(bool, copy=False)


def joint_indicators(y_db: Any, y_q: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Bool indicators of a database's and its queries' labels over the classes of both together
    (a class seen on one side only still gets its column on both). Both must have one form: 1-D
    class values, or 0/1 indicator matrices with the same columns."""
    y_db, y_q = np.asarray(y_db), np.asarray(y_q)
    if y_db.ndim != y_q.ndim or (y_db.ndim == 2 and y_db.shape[1] != y_q.shape[1]):
        raise ValueError(f"training labels of shape {y_db.shape} and validation labels of shape {y_q.shape} "
                         "are not of one form (both 1-D classes, or both indicators with the same columns)")
    ind = labels_to_indicator(np.concatenate([y_db, y_q]))[0]
    return ind[:len(y_db)], ind[len(y_db):]
