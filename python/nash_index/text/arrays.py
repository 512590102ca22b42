"""Reading the ``.npz`` files of a saved pipeline: plain arrays only, every fault a ValueError
that names the file (and the array), so that damage never surfaces later as an odd crash."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..checks import check_stored_array

__all__ = ["check_array", "read_npz"]

#: numpy dtype kinds accepted per kind letter of the readers: "f" any real number, "i" integers, "U" text, "b" bool.
_KINDS = {"f": "fiu", "i": "iu", "U": "U", "b": "b"}


def read_npz(path: Union[str, Path], required: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickle), after checking ``required`` are there.

    OSError (unreadable file) passes through; anything the bytes cause (truncation, bit flips,
    not a zip, a pickle) becomes a ValueError naming ``path``.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):  # a bare .npy, not an archive
                raise ValueError("a single array, not an .npz archive")
            arrays = {name: np.asarray(z[name]) for name in z.files}
    except OSError:
        raise
    except Exception as exc:  # the bytes are untrusted: whatever they trigger is damage
        raise ValueError(f"'{path}' is not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    missing = [name for name in required if name not in arrays]
    if missing:
        raise ValueError(f"'{path}' lacks the array(s) {missing} (has {sorted(arrays)})")
    return arrays


def check_array(arr: Any, where: str, shape: Tuple[Optional[int], ...], kind: str = "f") -> np.ndarray:
    """``arr`` if it has ``shape`` (None: any length) and dtype ``kind`` ("f" any real number, "i"
    integers, "U" text, "b" bool), floats finite; ValueError naming ``where``
    (:func:`nash_index.checks.check_stored_array` with the file readers' kind letters)."""
    return check_stored_array(np.asarray(arr), where, shape, _KINDS[kind])
