"""``check_array``: the one check of a data matrix (documents x features) for every layer, dense
numpy, scipy.sparse or torch; and ``check_stored_array`` for arrays read back from files.

Numpy only: sparse matrices and tensors are recognised by their module (``convert.py``).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .convert import is_sparse, to_numpy

__all__ = ["check_array", "check_stored_array"]

#: Words for the dtype kinds a stored array may be asked to hold (numpy ``dtype.kind`` letters).
_KIND_WORDS = {"f": "floats", "fiu": "numbers", "iu": "integers", "i": "integers", "u": "unsigned integers",
               "U": "strings", "b": "booleans"}


def _dense(X: Any, name: str, accept_sparse: bool) -> np.ndarray:
    """``X`` (an array-like, not sparse) as a numpy array; TypeError for anything else."""
    if isinstance(X, np.ndarray):
        return X
    if hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        return np.asarray(X)
    kinds = "a numpy array or scipy.sparse matrix" if accept_sparse else "a numpy array"
    raise TypeError(f"{name} must be {kinds} (or a torch tensor), got {type(X).__name__}")


def _check_numeric(dtype: np.dtype, name: str) -> None:
    # bool is not numeric here: True/False rows are almost always a mistake for document vectors
    if not np.issubdtype(dtype, np.number):  # object and string dtypes too
        raise TypeError(f"{name} must be numeric, got dtype {dtype}")


def _as_csr(X: Any, name: str, dtype: Any) -> Any:
    """A scipy.sparse input as CSR of ``dtype`` with sorted column indices (the caller's matrix is
    never modified: unsorted indices are sorted in a copy)."""
    X = X.tocsr()
    _check_numeric(X.dtype, name)
    if dtype is not None:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf: refused by name in check_array
            X = X.astype(dtype, copy=False)
    return X if X.has_sorted_indices else X.sorted_indices()


def check_array(X: Any, name: str = "X", *, accept_sparse: bool = False, dtype: Any = np.float32,
                sparse_dtype: Any = None, min_rows: int = 1, n_features: Optional[int] = None,
                finite: bool = True) -> Any:
    """``X`` checked as a 2-D numeric matrix (rows x features); every refusal names ``name``.

    Dense input (a numpy array, anything with ``__array__``, nested lists, a torch tensor by the
    GPU rule of ``convert.py``) comes back as a C-contiguous array of ``dtype`` (None: its own);
    scipy.sparse input (when ``accept_sparse``) as CSR of ``sparse_dtype`` (None: ``dtype``) with
    sorted indices, keeping its class (matrix or array). TypeError: not an array, non-numeric
    dtype (bool included); ValueError: not 2-D, fewer than ``min_rows`` rows, a column count other
    than ``n_features`` (None: any), NaN or infinity when ``finite``.
    """
    X = to_numpy(X)
    if is_sparse(X):
        if not accept_sparse:
            raise TypeError(f"{name} must be a dense array, got a scipy.sparse {type(X).__name__}")
        X = _as_csr(X, name, dtype if sparse_dtype is None else sparse_dtype)
        values = X.data
    else:
        X = _dense(X, name, accept_sparse)
        _check_numeric(X.dtype, name)
        with np.errstate(over="ignore"):  # beyond float32 becomes inf: refused below, by name
            X = values = np.ascontiguousarray(X, dtype=dtype)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (one row per document), got shape {X.shape}")
    if X.shape[0] < min_rows:
        raise ValueError(f"{name} has no rows" if X.shape[0] == 0 else
                         f"{name} has {X.shape[0]} rows, at least {min_rows} needed")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features; the model expects {n_features}")
    if finite and not np.all(np.isfinite(values)):  # NaN would give arbitrary bits silently
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def _shape_text(shape: Tuple[Optional[int], ...]) -> str:
    inner = ", ".join("n" if extent is None else str(extent) for extent in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def check_stored_array(value: Any, name: str, shape: Tuple[Optional[int], ...], kinds: str = "f") -> np.ndarray:
    """``value`` if it is a numpy array of ``shape`` (None: any extent) whose dtype kind is one of
    ``kinds`` (numpy ``dtype.kind`` letters), floats finite; ValueError naming ``name`` otherwise.

    For arrays read from a file or a fitted state: a damaged one must fail here, not as an odd
    crash or silently NaN codes later.
    """
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be an array, got {type(value).__name__}")
    if value.ndim != len(shape) or any(e is not None and e != n for e, n in zip(shape, value.shape)):
        raise ValueError(f"{name} must have shape {_shape_text(shape)}, got {value.shape}")
    if value.dtype.kind not in kinds:
        raise ValueError(f"{name} must hold {_KIND_WORDS.get(kinds, 'dtype kind ' + repr(kinds))}, got dtype {value.dtype}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must hold finite values; it holds non-finite ones (NaN or inf)")
    return value
