"""From text to neighbours: :class:`HashingPipeline` (TF-IDF or an embedder + hasher + index, optionally
rescored on stored vectors) and its directory format."""
from __future__ import annotations

from .codes import CodesIndex
from .pipeline import HashingPipeline, TextSearchResult
from .storage import PipelineFormatError

__all__ = ["CodesIndex", "HashingPipeline", "PipelineFormatError", "TextSearchResult"]
