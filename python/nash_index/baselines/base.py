"""Common interface of the classic hashing baselines: ``fit(X)`` then ``encode(X) -> packed codes``.

Inputs are document vectors (rows), dense ``numpy`` arrays or ``scipy.sparse`` matrices; sparse input
stays sparse wherever the method allows it (projections are sparse @ dense products). Codes are
``uint8`` arrays of shape ``(n, nbits // 8)`` packed like ``np.packbits(bits, axis=1)`` (and
``nash_index.pack_bits``): bit j of a code is bit ``7 - j % 8`` of byte ``j // 8``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from ..index.validation import check_int, check_nbits

ArrayLike = Union[np.ndarray, sp.spmatrix]


def check_input(X: Any, n_features: Optional[int] = None) -> ArrayLike:
    """Float32 CSR for sparse input, float64 2-D array for dense; checks the column count."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
    else:
        X = np.asarray(X)
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            raise TypeError(f"X must be numeric, got dtype {X.dtype}")
        X = X.astype(np.float64, copy=False)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (documents × features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features but the model was fitted on {n_features}")
    if not np.all(np.isfinite(X.data if sp.issparse(X) else X)):  # NaN would give arbitrary bits silently
        raise ValueError("X contains NaN or infinite values")
    return X


def check_state_array(value: Any, name: str, shape: Tuple[Optional[int], ...], kinds: str = "f") -> None:
    """``value`` is an array of ``shape`` whose dtype kind is in ``kinds`` (floats finite)."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be an array, got {type(value).__name__}")
    if value.ndim != len(shape) or any(e is not None and e != n for e, n in zip(shape, value.shape)):
        expected = tuple("n" if e is None else e for e in shape)
        raise ValueError(f"{name} must have shape {expected}, got {value.shape}")
    if value.dtype.kind not in kinds or (value.dtype.kind == "f" and not np.all(np.isfinite(value))):
        raise ValueError(f"{name} must hold finite values of kind {kinds!r}, got dtype {value.dtype}")


def pack(bits: np.ndarray) -> np.ndarray:
    """Pack a bool (n, nbits) matrix into C-contiguous uint8 codes (same order as np.packbits)."""
    return np.ascontiguousarray(np.packbits(bits.astype(bool), axis=1))


class HashingBaseline(ABC):
    """Base class: subclasses implement :meth:`_fit` and :meth:`_bits` (bool (n, nbits))."""

    def __init__(self, nbits: int = 32, random_state: Optional[int] = 0) -> None:
        self.nbits = check_nbits(nbits)
        self.random_state = check_int(random_state, "random_state", allow_none=True)
        self.n_features_: Optional[int] = None

    def fit(self, X: Any) -> "HashingBaseline":
        """Learn the hash functions from the rows of ``X``; returns ``self``."""
        X = check_input(X)
        self.n_features_ = X.shape[1]
        self._fit(X, np.random.default_rng(self.random_state))
        return self

    def encode(self, X: Any) -> np.ndarray:
        """Packed uint8 codes (n, nbits // 8) of the rows of ``X``."""
        if self.n_features_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(X) first")
        bits = self._bits(check_input(X, self.n_features_))
        if bits.shape != (X.shape[0], self.nbits):
            raise AssertionError(f"internal error: bits of shape {bits.shape}")
        return pack(bits)

    def check_state(self) -> None:
        """Checks the fitted attributes (a loaded baseline): ValueError naming the first one whose
        type or shape is wrong, so a damaged file fails here and not inside ``encode``."""
        check_nbits(self.nbits)
        d = self.n_features_
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ValueError(f"n_features_ must be a positive int, got {d!r}")
        for name, (value, shape, kind) in self._state_spec().items():
            check_state_array(value, name, shape, kind)

    def _state_spec(self) -> Dict[str, Tuple[Any, Tuple[Optional[int], ...], str]]:
        """``{attribute: (value, expected shape (None: any), dtype kinds)}`` of the fitted state."""
        raise NotImplementedError

    def fit_encode(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``encode(X)``."""
        return self.fit(X).encode(X)

    @abstractmethod
    def _fit(self, X: ArrayLike, rng: np.random.Generator) -> None: ...

    @abstractmethod
    def _bits(self, X: ArrayLike) -> np.ndarray: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nbits={self.nbits}, random_state={self.random_state})"
