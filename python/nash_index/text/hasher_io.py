"""Writing and reading a fitted hasher inside a pipeline directory (no pickle): each hasher's
spec knows its files (:mod:`nash_index.text.neural_spec`: a torch model and its numpy export;
:mod:`nash_index.text.baseline_spec`: arrays and scalars). The manifest entry's ``kind`` (a
registered name) says which spec reads it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from .registry import entry_spec, hasher_spec

__all__ = ["hasher_files", "load_hasher", "save_hasher"]


def save_hasher(kind: str, hasher: Any, encoder: Any, out: Path,
                model_files: Optional[Dict[str, bytes]] = None) -> Dict[str, Any]:
    """Writes the hasher into directory ``out``; returns its manifest entry.

    ``hasher`` may be None for a neural hasher loaded torch-free: ``model_files`` (the bytes of
    its model's files read at load time) are then written back unchanged.
    """
    return hasher_spec(kind).save(hasher, encoder, out, model_files)


def load_hasher(entry: Dict[str, Any], src: Path, use_torch: bool = False) -> tuple:
    """Reads a hasher saved by :func:`save_hasher`.

    Returns ``(hasher or None, encoder, model_files)``: a neural hasher's torch model is loaded
    only with ``use_torch=True``; otherwise its files are kept as bytes so a later save keeps them.
    A damaged file or manifest entry raises ValueError naming it.
    """
    return entry_spec(entry).load(entry, src, use_torch)


def hasher_files(entry: Dict[str, Any]) -> List[str]:
    """The files (relative to the pipeline directory) that a saved hasher entry points to."""
    return entry_spec(entry).files(entry)
