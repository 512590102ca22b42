"""Containers for corpora: raw texts with labels, and the processed TF-IDF splits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

import numpy as np
import scipy.sparse as sp

from ..text import TextVectorizer
from ..text.vectorizer import idf_weights


@dataclass
class RawCorpus:
    """Texts and labels of a corpus with its official train/test split, before any vectorizing.

    Use it to fit your own vectorizer, or hand it to :func:`nash_index.datasets.vdsh_preprocess`.
    ``*_labels`` are bool indicator matrices (n_docs, n_labels) whose columns are ``label_names``;
    ``*_keys`` identify each document in its source (file name, NEWID, line number) for display.
    """

    name: str
    train_texts: List[str]
    train_labels: np.ndarray
    test_texts: List[str]
    test_labels: np.ndarray
    label_names: List[str]
    train_keys: List[str]
    test_keys: List[str]
    source: str = ""

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            texts = getattr(self, f"{split}_texts")
            labels = np.asarray(getattr(self, f"{split}_labels"), dtype=bool)
            keys = getattr(self, f"{split}_keys")
            if labels.ndim != 2 or labels.shape[1] != len(self.label_names):
                raise ValueError(
                    f"{split}_labels must have shape (n_docs, {len(self.label_names)}), got {labels.shape}"
                )
            if not (len(texts) == labels.shape[0] == len(keys)):
                raise ValueError(
                    f"{split}: {len(texts)} texts, {labels.shape[0]} label rows and {len(keys)} keys differ"
                )
            setattr(self, f"{split}_labels", labels)

    @property
    def multi_label(self) -> bool:
        """True if some document carries more than one label."""
        return bool((self.train_labels.sum(1) > 1).any() or (self.test_labels.sum(1) > 1).any())


@dataclass
class Corpus:
    """A processed corpus: TF-IDF matrices and label indicators for train (database), val and test.

    ``X_*`` are CSR float32 (n_docs, n_terms), rows L2-normalised; ``y_*`` bool (n_docs, n_labels).
    ``keys_*`` identify the source document of every row. ``info`` records sizes, the recipe and
    the seed, and the published sizes where known; for corpora built by
    :func:`~nash_index.datasets.vdsh_preprocess`, ``info["rows"][split]`` gives each row's index
    in the :class:`RawCorpus` (``train`` rows index the raw train split, ``val``/``test`` the raw
    test split), so the original texts can be shown next to search results; :meth:`split_texts`
    does that mapping.
    """

    name: str
    X_train: sp.csr_matrix
    X_val: sp.csr_matrix
    X_test: sp.csr_matrix
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    vocabulary: List[str]
    label_names: List[str]
    keys_train: List[str]
    keys_val: List[str]
    keys_test: List[str]
    info: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            X = getattr(self, f"X_{split}")
            y = np.asarray(getattr(self, f"y_{split}"), dtype=bool)
            if not sp.issparse(X):
                raise TypeError(f"X_{split} must be a scipy.sparse matrix, got {type(X).__name__}")
            X = sp.csr_matrix(X, dtype=np.float32)
            if X.shape[1] != len(self.vocabulary):
                raise ValueError(f"X_{split} has {X.shape[1]} columns but the vocabulary has {len(self.vocabulary)} terms")
            if y.ndim != 2 or y.shape[0] != X.shape[0] or y.shape[1] != len(self.label_names):
                raise ValueError(f"y_{split} has shape {y.shape}, expected ({X.shape[0]}, {len(self.label_names)})")
            if len(getattr(self, f"keys_{split}")) != X.shape[0]:
                raise ValueError(f"keys_{split} has a different length from X_{split}")
            setattr(self, f"X_{split}", X)
            setattr(self, f"y_{split}", y)

    @property
    def sizes(self) -> Dict[str, int]:
        """Number of documents per split."""
        return {"train": self.X_train.shape[0], "val": self.X_val.shape[0], "test": self.X_test.shape[0]}

    def split_texts(self, raw: RawCorpus) -> Dict[str, List[str]]:
        """The texts of every split, row-aligned with ``X_train``/``X_val``/``X_test``.

        ``raw`` must be the :class:`RawCorpus` this corpus was built from (e.g.
        ``load_raw(name, path)`` for ``load_corpus(name, path)``); rows are mapped through
        ``info["rows"]`` and checked against the document keys. Returns ``{"train": [...],
        "val": [...], "test": [...]}``. Raises ``ValueError`` for corpora without row
        provenance (such as VDSH ``.mat`` files) or when ``raw`` does not match.
        """
        rows = self.info.get("rows")
        if not isinstance(rows, dict) or any(s not in rows for s in ("train", "val", "test")):
            raise ValueError(f"corpus {self.name!r} does not record the raw rows of its documents "
                             "(only corpora built by vdsh_preprocess do)")
        out: Dict[str, List[str]] = {}
        for split, source in (("train", "train"), ("val", "test"), ("test", "test")):
            texts, keys = getattr(raw, f"{source}_texts"), getattr(raw, f"{source}_keys")
            idx = [int(r) for r in rows[split]]
            if any(not 0 <= r < len(texts) for r in idx) or \
                    [keys[r] for r in idx] != list(getattr(self, f"keys_{split}")):
                raise ValueError(f"the raw corpus {raw.name!r} does not match the {split} split of "
                                 f"corpus {self.name!r} (different source or loader version)")
            out[split] = [texts[r] for r in idx]
        return out

    def vectorizer(self) -> TextVectorizer:
        """The TF-IDF vectorizer that turns texts into rows exactly like ``X_train``/``X_val``/``X_test``.

        What a model trained on these rows needs to encode new texts (e.g. saved beside a
        ``NASH.save`` model for ``nash-index build --model``). The smoothed idf is recovered from
        which training rows hold each term, as the recipe computed it. Only corpora built by
        :func:`~nash_index.datasets.vdsh_preprocess` (``info["recipe"]``) have one.
        """
        if "recipe" not in self.info:
            raise ValueError(f"corpus {self.name!r} was not built by vdsh_preprocess: no vectorizer reproduces its rows")
        X = self.X_train.copy()
        X.eliminate_zeros()
        vec = TextVectorizer()
        vec.terms, vec.idf = list(self.vocabulary), idf_weights(X)
        return vec

    def __repr__(self) -> str:
        s = self.sizes
        return (
            f"Corpus({self.name!r}, train={s['train']}, val={s['val']}, test={s['test']}, "
            f"terms={len(self.vocabulary)}, labels={len(self.label_names)})"
        )
