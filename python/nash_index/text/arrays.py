"""Reading the ``.npz`` files of a saved pipeline: plain arrays only, every fault a ValueError
that names the file (and the array), so that damage never surfaces later as an odd crash."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

__all__ = ["read_npz", "strings_to_arrays", "strings_from_arrays"]

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



def strings_to_arrays(strings: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """``strings`` as their UTF-8 bytes end to end (uint8) and ``n + 1`` int64 offsets: each string
    takes its own length (a numpy unicode array takes 4 bytes times the longest, for every one)."""
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def strings_from_arrays(data: np.ndarray, offsets: np.ndarray, where: str) -> List[str]:
    """Inverse of :func:`strings_to_arrays`; ValueError naming ``where`` when the arrays are damaged."""
    if data.dtype != np.uint8 or data.ndim != 1 or offsets.dtype != np.int64 or offsets.ndim != 1 \
            or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != data.size or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{where}: the string arrays are damaged (bytes {data.dtype} {data.shape}, "
                         f"offsets {offsets.dtype} {offsets.shape})")
    raw = data.tobytes()
    try:
        return [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: a string is not valid UTF-8 ({exc})") from None
