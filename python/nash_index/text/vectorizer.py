"""Text -> TF-IDF rows with a fitted vocabulary, stored as plain arrays (no pickle).

The weighting is scikit-learn's ``TfidfVectorizer`` default, as in the VDSH recipe the NASH
paper's numbers were produced with: raw term counts times the smoothed idf
``ln((1 + n) / (1 + df)) + 1``, rows L2-normalised. Tokens are scikit-learn's (lower-cased runs
of two or more word characters, English stop words removed). Once fitted, the vocabulary and the
idf vector fully define the transform, so a saved vectorizer is two arrays and a few parameters.

Fitting uses scikit-learn's ``CountVectorizer``; ``transform`` counts with :class:`TermCounter`
(the same counts, several times faster) and weights a few texts (a query) with numpy alone, a
batch with :func:`tfidf_rows`: both give scikit-learn's rows bit for bit.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from ..checks import check_stored_array
from ..index.validation import check_fraction, check_int
from .arrays import read_npz, strings_from_arrays, strings_to_arrays
from .term_counts import TermCounter

__all__ = ["TextVectorizer", "VectorizerParams", "check_texts", "count_vectorizer", "describe_texts", "idf_weights",
           "rows_without_terms", "tfidf_rows"]

PathLike = Union[str, "Path"]
#: Up to this many texts, :meth:`TextVectorizer.transform` weights each row with numpy directly
#: (same float32 operations in the same order as :func:`tfidf_rows`, without its scipy calls).
FEW_TEXTS = 8
_FIRST = np.zeros(1, dtype=np.intp)  # reduceat over one whole row


@dataclass(frozen=True)
class VectorizerParams:
    """Vocabulary selection. ``min_df=None`` adapts to the corpus: 3 documents (the VDSH
    recipe) from 150 documents up, fewer for tiny corpora so that a vocabulary remains."""

    max_features: int = 10000
    min_df: Optional[int] = None
    max_df: float = 0.8
    stop_words: Optional[str] = "english"

    def __post_init__(self) -> None:
        check_int(self.max_features, "max_features")
        check_int(self.min_df, "min_df", allow_none=True)
        check_fraction(self.max_df, "max_df")
        if self.stop_words not in (None, "english"):
            raise ValueError(f"stop_words must be None or 'english', got {self.stop_words!r}")
        if self.max_features < 1:
            raise ValueError(f"max_features must be >= 1, got {self.max_features}")
        if self.min_df is not None and self.min_df < 1:
            raise ValueError(f"min_df must be >= 1, got {self.min_df}")
        if not 0.0 < self.max_df <= 1.0:
            raise ValueError(f"max_df must be in (0, 1], got {self.max_df}")

    def resolved_min_df(self, n_docs: int) -> int:
        """The document-frequency floor used for a corpus of ``n_docs`` documents."""
        if self.min_df is not None:
            return self.min_df
        return max(1, min(3, n_docs // 50))


def count_vectorizer(max_features: Optional[int] = None, min_df: int = 1, max_df: float = 1.0,
                     stop_words: Optional[str] = "english", vocabulary: Optional[Dict[str, int]] = None) -> Any:
    """scikit-learn's ``CountVectorizer`` with the tokenizer every TF-IDF here uses (float32 counts)."""
    from sklearn.feature_extraction.text import CountVectorizer

    if vocabulary is not None:
        return CountVectorizer(stop_words=stop_words, vocabulary=vocabulary, dtype=np.float32)
    return CountVectorizer(stop_words=stop_words, max_features=max_features, min_df=min_df, max_df=max_df,
                           dtype=np.float32)


def idf_weights(counts: Any) -> np.ndarray:
    """Smoothed idf of a (documents x terms) count matrix: ``ln((1 + n) / (1 + df)) + 1``."""
    counts = sp.csr_matrix(counts)
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1.0 + counts.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)


def tfidf_rows(counts: Any, idf: np.ndarray) -> sp.csr_matrix:
    """Counts times idf, rows L2-normalised (a row with no known term stays zero); CSR float32."""
    X = sp.csr_matrix(counts, dtype=np.float32).multiply(idf[None, :]).tocsr().astype(np.float32)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ X, dtype=np.float32)


def few_tfidf_rows(rows: Sequence[Tuple[np.ndarray, np.ndarray]], idf: np.ndarray,
                   canonical: bool = False) -> sp.csr_matrix:
    """:func:`tfidf_rows` of a few count rows ``(indices ascending, float32 counts)``, bitwise equal,
    with a handful of numpy calls per row: the float32 products count * idf, the squared norm
    summed by ``np.add.reduceat`` (what scipy's row sum calls), ``1 / sqrt`` in float32, one more
    product each. :func:`tfidf_rows` leaves each row's entries in descending column order (scipy's
    product with the diagonal of inverse norms reverses them), so they are reversed here too,
    unless ``canonical`` asks for ascending indices (the same entries, in the order every
    encoder's input check sorts them to)."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int32)
    columns, values = [], []
    for i, (cols, counts) in enumerate(rows):
        indptr[i + 1] = indptr[i] + cols.size
        if cols.size:
            data = counts * idf[cols]
            data *= np.float32(1.0) / np.sqrt(np.add.reduceat(data * data, _FIRST))
            columns.append(cols if canonical else cols[::-1])
            values.append(data if canonical else data[::-1])
    if not columns:
        return sp.csr_matrix((len(rows), idf.shape[0]), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(values), np.concatenate(columns), indptr), shape=(len(rows), idf.shape[0]))


class TextVectorizer:
    """Fits a vocabulary and idf weights on texts; turns texts into CSR float32 TF-IDF rows."""

    def __init__(self, params: Optional[VectorizerParams] = None) -> None:
        self.params = params or VectorizerParams()
        self.terms: Optional[List[str]] = None
        self.idf: Optional[np.ndarray] = None
        self._counter: Any = None
        self._term_counter: Optional[TermCounter] = None

    @property
    def is_fitted(self) -> bool:
        return self.terms is not None

    @property
    def n_features(self) -> int:
        """Vocabulary size (columns of the transform)."""
        self._check_fitted()
        return len(self.terms)  # type: ignore[arg-type]

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError("the vectorizer is not fitted; call fit first")

    def fit(self, texts: Sequence[str]) -> "TextVectorizer":
        """Chooses the vocabulary and idf weights from ``texts``."""
        texts = check_texts(texts)
        p = self.params
        min_df = p.resolved_min_df(len(texts))
        max_df = p.max_df if p.max_df * len(texts) >= min_df else 1.0
        counter = count_vectorizer(p.max_features, min_df, max_df, p.stop_words)
        try:
            counts = counter.fit_transform(texts).tocsr()
        except ValueError as exc:  # "empty vocabulary", "After pruning, no terms remain"
            raise ValueError(f"cannot build a vocabulary from {len(texts)} texts: {exc}") from exc
        self.terms = counter.get_feature_names_out().tolist()
        self.idf = idf_weights(counts)
        self._counter, self._term_counter = counter, None
        return self

    def _get_counter(self) -> Any:
        if self._counter is None:
            vocab = {t: i for i, t in enumerate(self.terms or [])}
            self._counter = count_vectorizer(stop_words=self.params.stop_words, vocabulary=vocab)
        return self._counter

    def _get_term_counter(self) -> TermCounter:
        if self._term_counter is None:
            self._term_counter = TermCounter(self.terms or [], self.params.stop_words)
        return self._term_counter

    def transform(self, texts: Sequence[str], *, canonical: bool = False) -> sp.csr_matrix:
        """TF-IDF rows (CSR float32, L2-normalised; a text with no known word is a zero row).

        The rows equal (bitwise: indices, values and their order) those of scikit-learn's
        ``CountVectorizer`` with this vocabulary followed by :func:`tfidf_rows`, which made them
        before :class:`TermCounter` did (:meth:`sklearn_transform`). ``canonical``: each row's
        indices ascending instead (the same entries; encoders sort them so anyway)."""
        self._check_fitted()
        texts = check_texts(texts, allow_empty=True)
        counter = self._get_term_counter()
        if len(texts) <= FEW_TEXTS:
            return few_tfidf_rows([counter.row(t) for t in texts], self.idf, canonical)
        rows = tfidf_rows(counter.counts(texts), self.idf)
        if canonical:
            rows.sort_indices()
        return rows

    def sklearn_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """:meth:`transform` through scikit-learn's ``CountVectorizer`` (the reference it equals)."""
        self._check_fitted()
        return tfidf_rows(self._get_counter().transform(check_texts(texts, allow_empty=True)), self.idf)

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.fit(texts).transform(texts)

    # ---- persistence ------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Writes the vocabulary, idf weights and parameters to one ``.npz`` file (:meth:`read`
        reads it alone, e.g. beside a model saved with ``NASH.save``)."""
        self._check_fitted()
        params = np.asarray(json.dumps(asdict(self.params)))  # the transform needs stop_words
        with open(path, "wb") as fh:
            # bytes + offsets: one long token must not widen every term (a numpy str array would)
            term_bytes, term_offsets = strings_to_arrays(self.terms or [])
            np.savez(fh, term_bytes=term_bytes, term_offsets=term_offsets, idf=self.idf, params=params)

    def to_manifest(self) -> Dict[str, Any]:
        """Parameters for the pipeline manifest."""
        return {"params": asdict(self.params), "n_features": self.n_features}

    @classmethod
    def read(cls, path: PathLike) -> "TextVectorizer":
        """A vectorizer written by :meth:`save`, without a pipeline manifest (files written before
        parameters were stored get the default ones)."""
        params: Dict[str, Any] = asdict(VectorizerParams())
        stored = read_npz(path, ("idf",)).get("params")
        if stored is not None:
            try:
                params = json.loads(str(check_stored_array(stored, f"{path}: params", (), "U")))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: params is not JSON: {exc}") from None
        return cls.load(path, {"params": params})

    @classmethod
    def load(cls, path: PathLike, manifest: Dict[str, Any]) -> "TextVectorizer":
        """Inverse of :meth:`save` + :meth:`to_manifest`; ValueError naming ``path`` when the
        file or the manifest entry is damaged."""
        params = manifest.get("params") if isinstance(manifest, dict) else None
        if not isinstance(params, dict):
            raise ValueError(f"the manifest entry of {path} has no 'params' object")
        try:
            vec = cls(VectorizerParams(**params))
        except TypeError as exc:
            raise ValueError(f"the manifest entry of {path} has invalid params: {exc}") from exc
        z = read_npz(path, ("idf",))
        vec.terms = _stored_terms(z, path)
        n = len(vec.terms)
        vec.idf = check_stored_array(z["idf"], f"{path}: idf", (n,), "fiu").astype(np.float32)
        expected = manifest.get("n_features", n)
        if n == 0 or expected != n or len(set(vec.terms)) != n:
            raise ValueError(f"{path}: the vocabulary has {n} terms ({len(set(vec.terms))} distinct); "
                             f"the manifest says {expected}")
        return vec


def _stored_terms(z: Dict[str, np.ndarray], path: PathLike) -> List[str]:
    """The vocabulary of a saved vectorizer: UTF-8 bytes + offsets, or (files written before) one
    numpy unicode array."""
    if "term_bytes" in z and "term_offsets" in z:
        return strings_from_arrays(z["term_bytes"], z["term_offsets"], f"{path}: terms")
    if "terms" not in z:
        raise ValueError(f"'{path}' lacks the vocabulary (term_bytes and term_offsets, or terms; has {sorted(z)})")
    return check_stored_array(z["terms"], f"{path}: terms", (None,), "U").tolist()


def check_texts(texts: Any, allow_empty: bool = False, name: str = "texts") -> List[str]:
    """``texts`` as a list of strings; TypeError naming ``name`` and the first bad item's position.

    One string (or bytes) alone is refused: iterating it would index each character as a text.
    """
    if isinstance(texts, (str, bytes, bytearray)):
        raise TypeError(f"{name} must be a sequence of strings, not one {type(texts).__name__} "
                        f"(wrap it in a list: [{_excerpt(texts)!r}])")
    if texts is None or isinstance(texts, dict) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a sequence of strings, got {type(texts).__name__}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__} {_excerpt(t)}")
    if not out and not allow_empty:
        raise ValueError(f"{name} is empty: need at least one text")
    return out


def _excerpt(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def rows_without_terms(X: sp.csr_matrix) -> np.ndarray:
    """Bool mask of the TF-IDF rows that are zero: texts with no vocabulary term (empty, only
    stop words or unknown words). All such texts get one and the same code."""
    indptr = X.indptr if sp.isspmatrix_csr(X) or isinstance(X, sp.csr_array) else sp.csr_matrix(X).indptr
    return np.diff(indptr) == 0


def describe_texts(texts: Sequence[str], positions: Sequence[int], limit: int = 3) -> str:
    """``#0 'zzz', #4 'the of'`` (and how many more): names texts in a warning."""
    shown = ", ".join(f"#{i} {_excerpt(texts[i])!r}" for i in list(positions)[:limit])
    more = len(positions) - limit
    return shown + (f" and {more} more" if more > 0 else "")
