"""Writing a :class:`HashingPipeline`'s files into a fresh directory (the inverse of
:mod:`nash_index.pipeline.loading`); :func:`~nash_index.pipeline.storage.save_directory` makes
the whole save atomic and adds every file's checksum to the manifest."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from ..text import TrainedHasher
from .documents import DocumentStore
from .featurizer import Featurizer

__all__ = ["write_pipeline_files"]


def write_pipeline_files(out: Path, params: Dict[str, Any], featurizer: Featurizer, trained: TrainedHasher,
                         documents: DocumentStore, train_info: Dict[str, Any]) -> Dict[str, Any]:
    """Each component writes its own files into ``out``; returns the manifest entries, ``params``
    (the pipeline's arguments) among them.

    ``params["hasher_kind"]`` is what the pipeline was asked for (``"auto"`` included, with its
    ``hasher_params`` for the NASH candidate); the ``hasher`` entry is the trained hasher's own
    kind (for ``"auto"``: the kept one, also named by ``train_info["hasher"]``, the choice's
    record being ``train_info["auto"]``)."""
    hasher_entry = trained.save(out)
    index_entry, vectors_entry = documents.save(out)
    entries = {**params, "index_kind": documents.index_kind, "hasher": hasher_entry, "index": index_entry,
               "train_info": train_info, **featurizer.save(out)}
    if featurizer.uses_vectors:  # TF-IDF pipelines keep the version-1 layout, which has no vectors entry
        entries["vectors"] = vectors_entry
    return entries
