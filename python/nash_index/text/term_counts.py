"""Vocabulary term counts of texts, identical to scikit-learn's ``CountVectorizer`` with a fixed
vocabulary, without its per-token Python pipeline.

scikit-learn lower-cases a text, takes every match of ``(?u)\\b\\w\\w+\\b`` (a maximal run of two or
more word characters), drops English stop words and counts the tokens found in the vocabulary.
:class:`TermCounter` gives the same counts faster:

* The lookup table holds only terms that tokenization can produce (two or more word characters,
  not a stop word), so stop-word filtering is a failed lookup, exactly as dropping the token first.
* An ASCII text is lower-cased and cut at its non-word bytes by one ``bytes.translate`` and one
  ``bytes.split`` (both in C): for ASCII, word characters are ``[0-9A-Za-z_]``, so the pieces are
  the maximal runs of word characters, i.e. the regex's tokens (plus single characters, which are
  never in the table). Any other text takes scikit-learn's own regex, after ``str.lower``.
* A batch's counts are made by numpy from the flat list of term ids: CSR rows with sorted
  indices, float32 counts, as ``CountVectorizer.transform`` returns.
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import chain
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

__all__ = ["TermCounter", "TOKEN_PATTERN"]

#: scikit-learn's default ``token_pattern``.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_TOKEN = re.compile(TOKEN_PATTERN)
_WORD_BYTES = b"0123456789abcdefghijklmnopqrstuvwxyz_"
# byte -> itself lower-cased if it is a word character, else a space
_ASCII_TABLE = bytes(b if b in _WORD_BYTES else (b + 32 if 65 <= b <= 90 else 32) for b in range(256))


def _stop_words(name: Optional[str]) -> frozenset:
    if name is None:
        return frozenset()
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # the list CountVectorizer uses
    return frozenset(ENGLISH_STOP_WORDS)


class TermCounter:
    """Term ids and counts of texts for a fixed vocabulary (``terms[i]`` is column ``i``)."""

    def __init__(self, terms: Sequence[str], stop_words: Optional[str]) -> None:
        stop = _stop_words(stop_words)
        self.n_terms = len(terms)
        self.lookup: Dict[str, int] = {t: i for i, t in enumerate(terms)
                                       if t not in stop and _TOKEN.fullmatch(t)}
        self.ascii_lookup: Dict[bytes, int] = {t.encode("ascii"): i for t, i in self.lookup.items() if t.isascii()}

    def term_ids(self, text: str) -> List[int]:
        """Vocabulary ids of the tokens of ``text``, in text order (repeats kept)."""
        if text.isascii():
            get = self.ascii_lookup.get
            tokens = text.encode("ascii").translate(_ASCII_TABLE).split()
        else:
            get = self.lookup.get
            tokens = _TOKEN.findall(text.lower())
        return [i for i in map(get, tokens) if i is not None]

    def row(self, text: str) -> Tuple[np.ndarray, np.ndarray]:
        """``(indices int32 ascending, counts float32)`` of one text: its CSR row."""
        counts = Counter(self.term_ids(text))
        cols = sorted(counts)
        return np.array(cols, dtype=np.int32), np.array([counts[c] for c in cols], dtype=np.float32)

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Counts of ``texts``: CSR float32 (n, n_terms), sorted indices, as ``CountVectorizer.transform``."""
        per_text = [self.term_ids(t) for t in texts]
        lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(per_text))
        ids = np.fromiter(chain.from_iterable(per_text), dtype=np.int64, count=int(lengths.sum()))
        rows = np.repeat(np.arange(len(per_text), dtype=np.int64), lengths)
        keys, counts = np.unique(rows * max(self.n_terms, 1) + ids, return_counts=True)
        key_rows = keys // max(self.n_terms, 1)
        indptr = np.zeros(len(per_text) + 1, dtype=np.int32)
        np.cumsum(np.bincount(key_rows, minlength=len(per_text)), out=indptr[1:])
        indices = (keys - key_rows * max(self.n_terms, 1)).astype(np.int32)
        return sp.csr_matrix((counts.astype(np.float32), indices, indptr), shape=(len(per_text), self.n_terms))
