"""Reading the ``.npz`` files of a saved pipeline: plain arrays only, every fault a ValueError
that names the file (and the array), so that damage never surfaces later as an odd crash."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Union

import numpy as np

__all__ = ["read_npz"]

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

