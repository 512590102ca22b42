"""Named benchmark corpora: raw loading, VDSH preprocessing and caching in one call."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, Optional

from .cache import cache_key, cache_path, cached, save_corpus
from .corpus import Corpus, RawCorpus
from .locate import PathLike, locate
from .newsgroups import ARCHIVE_NAMES as NG_NAMES
from .newsgroups import load_20newsgroups
from .preprocess import Recipe, vdsh_preprocess
from .reuters import ARCHIVE_NAMES as REUTERS_NAMES
from .reuters import load_reuters
from .tmc import load_tmc, tmc_folder

_LOADERS: Dict[str, Callable[[Optional[PathLike]], RawCorpus]] = {
    "reuters": load_reuters,
    "20ng": load_20newsgroups,
    "tmc": load_tmc,
}
_ALIASES = {"reuters21578": "reuters", "ng20": "20ng", "20newsgroups": "20ng", "newsgroups": "20ng", "tmc2007": "tmc"}
# Where each corpus's source lives, found without parsing it (so a cache hit stays cheap).
_SOURCES: Dict[str, Callable[[Optional[PathLike]], Path]] = {
    "reuters": lambda p: locate("Reuters-21578", REUTERS_NAMES, p),
    "20ng": lambda p: locate("20 Newsgroups (bydate)", NG_NAMES, p),
    "tmc": tmc_folder,
}
# The VDSH TMC file has a 20,000-term vocabulary; the others 10,000.
_DEFAULT_RECIPES = {"reuters": Recipe(), "20ng": Recipe(), "tmc": Recipe(max_features=20000)}

CORPORA = tuple(_LOADERS)


def canonical_name(name: str) -> str:
    """Map an alias ("ng20", "20newsgroups", ...) to one of :data:`CORPORA`."""
    key = name.lower().strip()
    key = _ALIASES.get(key, key)
    if key not in _LOADERS:
        raise ValueError(f"unknown corpus {name!r}; known: {sorted(_LOADERS)} (aliases {sorted(_ALIASES)})")
    return key


def load_raw(name: str, path: Optional[PathLike] = None) -> RawCorpus:
    """Texts and labels of a named corpus with its official split (no vectorizing)."""
    return _LOADERS[canonical_name(name)](path)


def default_recipe(name: str, seed: int = 0) -> Recipe:
    """The VDSH recipe for a named corpus, with the given split seed."""
    return replace(_DEFAULT_RECIPES[canonical_name(name)], seed=seed)


def load_corpus(name: str, path: Optional[PathLike] = None, recipe: Optional[Recipe] = None, seed: int = 0,
                use_cache: bool = True) -> Corpus:
    """A named corpus ("reuters", "20ng", "tmc") processed with the VDSH recipe.

    ``recipe`` overrides the default recipe (then ``seed`` is ignored). The result is cached in the
    per-user cache folder, keyed by the recipe and the contents of the source files.
    """
    key_name = canonical_name(name)
    recipe = recipe or default_recipe(key_name, seed)
    if not use_cache:
        return vdsh_preprocess(load_raw(key_name, path), recipe)
    source = _SOURCES[key_name](path)
    key = cache_key(key_name, recipe.params(), [source])
    hit = cached(key_name, key)
    if hit is not None:
        return hit
    corpus = vdsh_preprocess(load_raw(key_name, source), recipe)
    save_corpus(corpus, cache_path(key_name, key))
    return corpus
