"""From text to neighbours: :class:`HashingPipeline` (TF-IDF + hasher + index) and its directory format."""
from __future__ import annotations

from .codes import CodesIndex
from .pipeline import HashingPipeline, TextSearchResult
from .storage import PipelineFormatError

__all__ = ["CodesIndex", "HashingPipeline", "PipelineFormatError", "TextSearchResult"]
