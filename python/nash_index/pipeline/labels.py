"""The labels a user hands to :meth:`HashingPipeline.fit`, as NASH takes them."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from ..evaluation.labels import indicator_from_label_sets

__all__ = ["training_label_arrays"]


def training_label_arrays(labels: Any, n: int, val_labels: Any, n_val: int
                          ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Training and validation labels: 1-D class values or 2-D bool indicators (lists of labels
    per text become indicators over the union of both label sets)."""
    if labels is None:
        return None, None
    both = [labels] if val_labels is None else [labels, val_labels]
    for value, name in zip(both, ("labels", "val_labels")):
        _check_label_container(value, name)
    if all(isinstance(b, np.ndarray) for b in both):
        arrs = [b.astype(bool) if b.ndim == 2 else b for b in both]
    else:
        lists: List[list] = [list(b) for b in both]
        if any(items and isinstance(items[0], (list, tuple, set, frozenset)) for items in lists):
            names = sorted({str(lab) for items in lists for labs in items for lab in labs})
            arrs = [indicator_from_label_sets([[str(lab) for lab in labs] for labs in items], names)
                    for items in lists]
        else:
            arrs = [np.asarray(items) for items in lists]
    for arr, count, name in zip(arrs, (n, n_val), ("labels", "val_labels")):
        if arr.shape[0] != count:
            raise ValueError(f"{name} has {arr.shape[0]} entries for {count} texts")
    return arrs[0], (arrs[1] if len(arrs) > 1 else None)


def _check_label_container(value: Any, name: str) -> None:
    """A sequence or array of labels: not one string (its characters would become labels), no
    ``None`` entry (it would silently become a class of its own)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence or array of labels, one per text, got {type(value).__name__}")
    if isinstance(value, np.ndarray) and value.dtype != object:
        return
    missing = next((i for i, v in enumerate(value) if v is None), None)
    if missing is not None:
        raise ValueError(f"{name}[{missing}] is None; every text needs a label (or pass no labels)")
