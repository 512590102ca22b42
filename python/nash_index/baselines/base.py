"""Common interface of the classic hashing baselines: ``fit(X)`` then ``encode(X) -> packed codes``.

Inputs are document vectors (rows), dense ``numpy`` arrays or ``scipy.sparse`` matrices; sparse input
stays sparse wherever the method allows it (projections are sparse @ dense products). Codes are
``uint8`` arrays of shape ``(n, nbits // 8)`` packed like ``np.packbits(bits, axis=1)`` (and
``nash_index.pack_bits``): bit j of a code is bit ``7 - j % 8`` of byte ``j // 8``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Dict, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from ..checks import Checked, Integer, check_array, check_params, check_stored_array
from ..index import pack_bits
from ..index.validation import check_nbits

ArrayLike = Union[np.ndarray, sp.spmatrix]


def check_input(X: Any, n_features: Optional[int] = None) -> ArrayLike:
    """Float32 CSR for sparse input, float64 2-D array for dense; checks the column count."""
    return check_array(X, "X", accept_sparse=True, dtype=np.float64, sparse_dtype=np.float32, n_features=n_features)


#: Packing bits into codes is the index's :func:`nash_index.pack_bits` (name kept: public since the start).
pack = pack_bits


class HashingBaseline(ABC):
    """Base class: subclasses implement :meth:`_fit` and :meth:`_bits` (bool (n, nbits)).

    A subclass declares its own parameters' constraints in ``_parameter_constraints`` (extending
    this one's), stores its arguments, then calls ``super().__init__``, which checks them all.
    """

    _parameter_constraints: ClassVar[Dict[str, Any]] = {"nbits": Checked(check_nbits),
                                                        "random_state": Integer(allow_none=True)}

    def __init__(self, nbits: int = 32, random_state: Optional[int] = 0) -> None:
        self.nbits, self.random_state = nbits, random_state
        for name, value in check_params(self, self._parameter_constraints).items():
            setattr(self, name, value)  # the checked value: an int parameter as a Python int
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
        X = check_input(X, self.n_features_)
        bits = self._bits(X)
        if bits.shape != (X.shape[0], self.nbits):
            raise AssertionError(f"internal error: bits of shape {bits.shape}")
        return pack_bits(bits)

    def check_state(self) -> None:
        """Checks the fitted attributes (a loaded baseline): ValueError naming the first one whose
        type or shape is wrong, so a damaged file fails here and not inside ``encode``."""
        check_nbits(self.nbits)
        d = self.n_features_
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ValueError(f"n_features_ must be a positive int, got {d!r}")
        for name, (value, shape, kind) in self._state_spec().items():
            check_stored_array(value, name, shape, kind)

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
