"""Corpora for semantic hashing: loaders, the VDSH TF-IDF recipe, and a processed-matrix cache.

Typical use::

    from nash_index.datasets import load_corpus
    corpus = load_corpus("reuters")        # looks in $NASH_INDEX_DATA, then ~/.cache/nash_index/data
    corpus.X_train, corpus.y_train         # database: CSR float32 TF-IDF, bool labels
    corpus.X_test, corpus.y_test           # queries

Raw texts (to fit another vectorizer): :func:`load_raw`, or the per-corpus loaders. User data:
:func:`load_folder`, :func:`load_csv`, :func:`load_jsonl`, then :func:`vdsh_preprocess`; whatever a
``--corpus`` argument names: :func:`load_source`. The embedded docstring corpus (no download):
:mod:`nash_index.datasets.docstrings`.
"""

from .corpus import Corpus, RawCorpus
from .locate import CorpusNotFoundError, cache_dir, search_dirs
from .newsgroups import load_20newsgroups
from .preprocess import PUBLISHED_SIZES, Recipe, vdsh_preprocess
from .registry import CORPORA, canonical_name, default_recipe, load_corpus, load_raw
from .reuters import load_reuters
from .sources import DOCSTRING_NAMES, CorpusOptions, available_named_corpus, corpus_name_of, load_source
from .tmc import load_tmc
from .user import load_csv, load_folder, load_jsonl
from .vdsh_mat import load_vdsh_mat

__all__ = [
    "CORPORA", "DOCSTRING_NAMES", "Corpus", "CorpusNotFoundError", "CorpusOptions", "PUBLISHED_SIZES",
    "RawCorpus", "Recipe", "available_named_corpus", "corpus_name_of", "load_source",
    "cache_dir", "canonical_name", "default_recipe", "load_20newsgroups",
    "load_corpus", "load_csv", "load_folder", "load_jsonl", "load_raw", "load_reuters", "load_tmc",
    "load_vdsh_mat", "search_dirs", "vdsh_preprocess",
]
