"""From text to neighbours: :class:`HashingPipeline` (TF-IDF + hasher + index) and its directory format."""
from __future__ import annotations

from .pipeline import HashingPipeline, TextSearchResult
from .storage import PipelineFormatError

__all__ = ["HashingPipeline", "PipelineFormatError", "TextSearchResult"]
