"""Neural hashing models (PyTorch): NASH and its variants, and the VDSH baseline.

Attributes are resolved lazily so that ``nash_index.models.numpy_encoder`` (torch-free serving)
can be imported without importing torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NASH": ".nash",
    "VDSH": ".vdsh",
    "NumpyEncoder": ".numpy_encoder",
    "random_search": ".search",
    "NotFittedError": ".base",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
