"""What :meth:`HashingPipeline.search` returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

__all__ = ["TextSearchResult"]


@dataclass
class TextSearchResult:
    """Search result of :meth:`HashingPipeline.search` for ``nq`` queries.

    ``distances`` int32 (nq, k) and ``ids`` int64 (nq, k), each row by (distance, id), in the
    order of :class:`nash_index.SearchResult`; ``keys`` the stored key of each id (``None`` where
    a row is padded with id -1 because k > ntotal).

    ``no_known_terms`` bool (nq,): True for a query with no term of the vocabulary (empty, only
    stop words or unknown words). Its TF-IDF row is zero, so every such query has one and the same
    code: its row is still filled (that code's true nearest neighbours), but those neighbours say
    nothing about the query. Check this mask before trusting a row; the pipeline also warns.

    ``scores`` float32 (nq, k), only from ``search(..., rescore=n)`` (else None): the cosine of
    each returned document's stored vector with the query's vector; rows are then ordered by
    descending score (ties by id), and ``distances`` keeps each document's Hamming distance (so
    it is not sorted). Padding: score -inf.
    """

    distances: np.ndarray
    ids: np.ndarray
    keys: List[List[Optional[str]]]
    no_known_terms: Optional[np.ndarray] = None
    scores: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.no_known_terms is None:  # built by hand: no query is marked
            self.no_known_terms = np.zeros(len(self), dtype=bool)
        self.no_known_terms = np.asarray(self.no_known_terms, dtype=bool)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def hits(self, i: int) -> List[tuple]:
        """``(key, distance, id)`` of query ``i``'s neighbours, padding left out."""
        return [(key, int(d), int(j)) for key, d, j in zip(self.keys[i], self.distances[i], self.ids[i])
                if j >= 0]
