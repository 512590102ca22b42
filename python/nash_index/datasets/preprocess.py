"""The VDSH preprocessing recipe that the published NASH tables were built on.

Steps, in order (all fitted on the official *train* split only):

1. ``CountVectorizer(stop_words="english", max_features=10000, min_df=3, max_df=0.8)`` with
   scikit-learn's default analyzer: lower-cased, tokens are maximal runs of 2+ word characters
   (regex ``(?u)\\b\\w\\w+\\b``), English stop words removed.
2. **Token count** of a document = the number of its token occurrences that are in the
   vocabulary from step 1 (the row sum of its count vector). Documents with fewer than
   ``min_tokens`` (5) or more than ``max_tokens`` (500) tokens are dropped from every split.
   (VDSH's own script keeps ``5 < count``; the issue's rule, used here, keeps ``5 <= count``.)
3. Test documents without any label are dropped (they could never retrieve anything relevant).
4. TF-IDF (:func:`nash_index.text.vectorizer.tfidf_rows`: smooth idf, l2 row norm, the same
   weighting as scikit-learn's ``TfidfTransformer``) with the idf of the kept train counts.
5. The official test split is shuffled with ``seed`` and halved: the first ``ceil(n/2)`` become
   validation, the rest test. The train split (the retrieval database) is shuffled with the same
   generator, so that the index's ascending-id tie rule carries no label information (the raw
   archives are ordered by class).

Variants a user might reasonably choose instead (``bench/bench_transfer.py`` measures the hashers
on them): ``sublinear_tf`` (``1 + ln(count)`` instead of the count), ``norm="none"`` (no row
normalisation), ``val_from="train"`` (validation = ``val_fraction`` of the kept training documents,
which then leave the database; the test split is then the whole kept official test split).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from ..text.vectorizer import count_vectorizer, idf_weights, tfidf_rows
from .corpus import Corpus, RawCorpus

#: Row normalisations of the TF-IDF rows, and where the validation documents come from.
NORMS = ("l2", "none")
VAL_SOURCES = ("test", "train")

PUBLISHED_SIZES: Dict[str, Dict[str, int]] = {
    "reuters": {"train": 7752, "val": 967, "test": 964},
    "20ng": {"train": 11016, "val": 3667, "test": 3665},
    "tmc": {"train": 21286, "val": 3498, "test": 3498},
}


@dataclass(frozen=True)
class Recipe:
    """Parameters of :func:`vdsh_preprocess` (defaults = the VDSH recipe; TMC uses 20,000 terms)."""

    max_features: int = 10000
    min_df: int = 3
    max_df: float = 0.8
    min_tokens: int = 5
    max_tokens: int = 500
    drop_unlabeled_test: bool = True
    seed: int = 0
    sublinear_tf: bool = False
    norm: str = "l2"
    val_from: str = "test"
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.max_features < 1 or self.min_df < 1:
            raise ValueError("max_features and min_df must be >= 1")
        if not 0.0 < self.max_df <= 1.0:
            raise ValueError(f"max_df must be in (0, 1], got {self.max_df}")
        if self.min_tokens < 0 or self.max_tokens < self.min_tokens:
            raise ValueError(f"need 0 <= min_tokens <= max_tokens, got {self.min_tokens}, {self.max_tokens}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.val_from not in VAL_SOURCES:
            raise ValueError(f"val_from must be one of {VAL_SOURCES}, got {self.val_from!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")

    def params(self) -> Dict[str, Any]:
        """Plain dict of the parameters (for cache keys and reports). The variant fields are left
        out while they hold their defaults, so a default recipe keeps its cache key."""
        out = asdict(self)
        for name, default in _VARIANT_DEFAULTS.items():
            if out[name] == default:
                del out[name]
        return out


#: The weighting and split variants, at their defaults (the VDSH recipe).
_VARIANT_DEFAULTS: Dict[str, Any] = {"sublinear_tf": False, "norm": "l2", "val_from": "test", "val_fraction": 0.1}


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray, recipe: Recipe) -> sp.csr_matrix:
    """TF-IDF rows of ``counts`` as the recipe weights them (the default: :func:`tfidf_rows`)."""
    if not recipe.sublinear_tf and recipe.norm == "l2":
        return tfidf_rows(counts, idf)
    X = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    if recipe.sublinear_tf:
        X.data = (1.0 + np.log(X.data)).astype(np.float32)
    if recipe.norm == "l2":
        return tfidf_rows(X, idf)
    return sp.csr_matrix(X.multiply(idf[None, :]), dtype=np.float32)


def _keep_mask(counts: sp.csr_matrix, recipe: Recipe) -> np.ndarray:
    n_tokens = np.asarray(counts.sum(axis=1)).ravel()
    return (n_tokens >= recipe.min_tokens) & (n_tokens <= recipe.max_tokens)


def _take(keys: Sequence[str], idx: np.ndarray) -> list:
    return [keys[i] for i in idx]


def vdsh_preprocess(raw: RawCorpus, recipe: Optional[Recipe] = None) -> Corpus:
    """Turn a :class:`RawCorpus` into TF-IDF train/val/test splits following the VDSH recipe."""
    recipe = recipe or Recipe()
    if len(raw.train_texts) == 0 or len(raw.test_texts) == 0:
        raise ValueError(f"{raw.name}: both the train and the test split need documents")
    vec = count_vectorizer(recipe.max_features, recipe.min_df, recipe.max_df)
    try:
        c_train = vec.fit_transform(raw.train_texts).tocsr()
    except ValueError as exc:  # sklearn: "After pruning, no terms remain" etc.
        raise ValueError(f"{raw.name}: cannot build a vocabulary from the train split: {exc}") from exc
    c_test = vec.transform(raw.test_texts).tocsr()

    keep_train = np.flatnonzero(_keep_mask(c_train, recipe))
    keep_test_mask = _keep_mask(c_test, recipe)
    if recipe.drop_unlabeled_test:
        keep_test_mask &= raw.test_labels.any(axis=1)
    keep_test = np.flatnonzero(keep_test_mask)

    if keep_train.size == 0:
        raise ValueError(f"{raw.name}: no training document has {recipe.min_tokens}..{recipe.max_tokens} "
                         "in-vocabulary tokens; nothing is left to index")
    rng = np.random.default_rng(recipe.seed)
    test_perm = keep_test[rng.permutation(keep_test.size)]
    train_perm = keep_train[rng.permutation(keep_train.size)]
    c_val = c_test
    if recipe.val_from == "test":
        n_val = math.ceil(test_perm.size / 2)
        val_idx, test_idx = test_perm[:n_val], test_perm[n_val:]
    else:  # validation leaves the database; the queries are the whole test split
        n_val = min(max(1, math.ceil(train_perm.size * recipe.val_fraction)), train_perm.size - 1)
        val_idx, train_perm, test_idx, c_val = train_perm[:n_val], train_perm[n_val:], test_perm, c_train

    idf = idf_weights(c_train[train_perm])  # the database's documents (order does not matter)

    def tf(c: sp.csr_matrix, idx: np.ndarray) -> sp.csr_matrix:
        return _tfidf(c[idx], idf, recipe)

    from_test = recipe.val_from == "test"
    val_labels, val_keys = (raw.test_labels, raw.test_keys) if from_test else (raw.train_labels, raw.train_keys)
    sizes = {"train": int(train_perm.size), "val": int(val_idx.size), "test": int(test_idx.size)}
    info: Dict[str, Any] = {
        "recipe": recipe.params(),
        "sizes": sizes,
        "published_sizes": PUBLISHED_SIZES.get(raw.name),
        "official_sizes": {"train": len(raw.train_texts), "test": len(raw.test_texts)},
        "dropped": {"train": len(raw.train_texts) - sizes["train"] - (0 if from_test else sizes["val"]),
                    "test": len(raw.test_texts) - sizes["test"] - (sizes["val"] if from_test else 0)},
        "source": raw.source,
        # raw-corpus row of every kept document, so callers can go back to the texts (the val rows
        # index the official split named by "val_from")
        "val_from": recipe.val_from,
        "rows": {"train": train_perm.tolist(), "val": val_idx.tolist(), "test": test_idx.tolist()},
    }
    return Corpus(
        name=raw.name,
        X_train=tf(c_train, train_perm), X_val=tf(c_val, val_idx), X_test=tf(c_test, test_idx),
        y_train=raw.train_labels[train_perm], y_val=val_labels[val_idx], y_test=raw.test_labels[test_idx],
        vocabulary=vec.get_feature_names_out().tolist(), label_names=list(raw.label_names),
        keys_train=_take(raw.train_keys, train_perm), keys_val=_take(val_keys, val_idx),
        keys_test=_take(raw.test_keys, test_idx), info=info,
    )
