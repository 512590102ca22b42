"""The preparation family of ``bench_transfer.py``: per corpus, reasonable ways a user might turn the
same raw texts into TF-IDF rows, as data.

Each :class:`Preparation` is a corpus, a text choice and overrides of the VDSH :class:`Recipe`
(``nash_index.datasets.preprocess``): row normalisation, sublinear tf, vocabulary size, document
frequency limits, title handling or cleaning, and whether validation comes from the test half or
from the training documents. ``base`` is the project's own preparation (the one the defaults were
chosen on); every other one changes one thing a user controls.

Built corpora are cached as pickles under ``--cache`` (default ``/tmp/nash_index_transfer``): the
20 Newsgroups parse and vectorizing take ~30 s, and the benchmark's workers share them.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from nash_index.datasets import Corpus, RawCorpus, Recipe, load_20newsgroups, load_raw, load_source, vdsh_preprocess

CORPORA = ("reuters", "20ng", "docstrings")
#: The recipe every preparation of a corpus starts from (docstrings: its terms are rarer).
BASE_RECIPES: Dict[str, Recipe] = {"reuters": Recipe(), "20ng": Recipe(), "docstrings": Recipe(min_df=2)}
#: Per corpus, the "text" variant: Reuters without its title line, 20 Newsgroups with signatures
#: and quotes removed too, docstrings with the length rule relaxed (2..1000 tokens).
TEXT_VARIANTS = {"reuters": "body only (no title)", "20ng": "headers+footers+quotes removed",
                 "docstrings": "2..1000 tokens kept"}


@dataclass(frozen=True)
class Preparation:
    """One way to prepare a corpus: ``recipe`` overrides the corpus's base recipe; ``text``
    ``"variant"`` applies the corpus's :data:`TEXT_VARIANTS` entry."""

    corpus: str
    name: str
    what: str
    recipe: Dict[str, Any] = field(default_factory=dict)
    text: str = "default"

    @property
    def key(self) -> str:
        return f"{self.corpus}/{self.name}"

    def build_recipe(self) -> Recipe:
        overrides = dict(self.recipe)
        if self.text == "variant" and self.corpus == "docstrings":
            overrides.update(min_tokens=2, max_tokens=1000)
        return replace(BASE_RECIPES[self.corpus], **overrides)


def family(corpus: str) -> List[Preparation]:
    """The 8 preparations of ``corpus``: the base, then one change each."""
    vocab_5k, vocab_20k = {"max_features": 5000}, {"max_features": 20000}
    return [
        Preparation(corpus, "base", "the project's preparation (VDSH recipe, l2 TF-IDF)"),
        Preparation(corpus, "no-l2", "TF-IDF rows not normalised", {"norm": "none"}),
        Preparation(corpus, "sublinear", "1 + ln(tf), l2", {"sublinear_tf": True}),
        Preparation(corpus, "vocab-5k", "5,000-word vocabulary", vocab_5k),
        Preparation(corpus, "vocab-20k", "20,000-word vocabulary", vocab_20k),
        Preparation(corpus, "df", "min_df 1, max_df 0.5", {"min_df": 1, "max_df": 0.5}),
        Preparation(corpus, "text", TEXT_VARIANTS[corpus], text="variant"),
        Preparation(corpus, "val-train", "validation: 10% of the training documents", {"val_from": "train"}),
    ]


def all_preparations(corpora: Sequence[str] = CORPORA) -> List[Preparation]:
    return [p for c in corpora for p in family(c)]


def _raw(prep: Preparation, data: Optional[Path]) -> RawCorpus:
    if prep.corpus == "docstrings":
        return load_source("docstrings")
    if prep.corpus == "20ng" and prep.text == "variant":
        return load_20newsgroups(data, remove=("headers", "footers", "quotes"))
    raw = load_raw(prep.corpus, data)
    if prep.corpus == "reuters" and prep.text == "variant":  # the loader joins title + "\n" + body
        strip = [t.split("\n", 1)[1] if "\n" in t else t for t in raw.train_texts], \
                [t.split("\n", 1)[1] if "\n" in t else t for t in raw.test_texts]
        raw = replace(raw, train_texts=strip[0], test_texts=strip[1])
    return raw


def build(prep: Preparation, data: Optional[Path], cache: Path) -> Corpus:
    """The corpus of ``prep`` (from the cache when built before)."""
    recipe = prep.build_recipe()
    path = cache / f"{prep.corpus}-{prep.name}-{hashlib.sha1(repr(recipe).encode()).hexdigest()[:10]}.pkl"
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    corpus = vdsh_preprocess(_raw(prep, data), recipe)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(corpus, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return corpus
