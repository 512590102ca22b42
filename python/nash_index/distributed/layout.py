"""The on-disk layout of a sharded index: one directory, a manifest, and one folder per shard.

::

    DIR/manifest.json            format, version, nbits, num_shards, routing rule, shard names
    DIR/shard-0000/state.json    the shard's current generation, largest id, recent operation ids
    DIR/shard-0000/g<N>.nidx     the shard's index file (FlatIndex or MultiIndexHashing, any mix)
    DIR/shard-0000/g<N>.log      the journal of changes since that file was written

Every JSON file is replaced atomically. ``compact`` writes generation N+1 (the index with the
journal folded in, and an empty journal) and then switches ``state.json`` to it, so a crash at any
point leaves a complete generation to open. The directory must be visible to every node that may
run a shard actor (a shared filesystem on a real cluster).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..atomic_io import atomic_file
from ..index import BaseIndex
from ..index.validation import check_nbits, check_positive_int
from .routing import ROUTING_RULE

__all__ = [
    "FORMAT",
    "MANIFEST",
    "MAX_SHARDS",
    "VERSION",
    "Manifest",
    "ShardState",
    "index_path",
    "journal_path",
    "read_manifest",
    "shard_directory",
    "write_manifest",
    "write_shard",
]

FORMAT = "nash_index.sharded"
VERSION = 1
MAX_SHARDS = 4096
MANIFEST = "manifest.json"
STATE = "state.json"
RECENT_OPS = 4096  # operation ids remembered across a compaction, so that a retried add is not applied twice

PathLike = Union[str, Path]


def shard_directory(root: PathLike, shard: int) -> Path:
    return Path(root) / f"shard-{shard:04d}"


def index_path(directory: PathLike, generation: int) -> Path:
    return Path(directory) / f"g{generation}.nidx"


def journal_path(directory: PathLike, generation: int) -> Path:
    return Path(directory) / f"g{generation}.log"


def _write_json(path: Path, value: Dict[str, Any]) -> None:
    with atomic_file(path) as fh:
        fh.write(json.dumps(value, indent=1, sort_keys=True).encode())


def _read_json(path: Path, what: str) -> Dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at '{path}'") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} '{path}' is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} '{path}' must hold a JSON object")
    return value


class Manifest:
    """What a sharded index is: code length, shard count and the routing rule."""

    def __init__(self, nbits: int, num_shards: int, routing: str = ROUTING_RULE) -> None:
        self.nbits = check_nbits(nbits)
        self.num_shards = check_positive_int(num_shards, "num_shards")
        if self.num_shards > MAX_SHARDS:
            raise ValueError(f"num_shards must be at most {MAX_SHARDS}, got {num_shards}")
        if routing != ROUTING_RULE:
            raise ValueError(f"unknown routing rule {routing!r} (this version knows {ROUTING_RULE!r})")
        self.routing = routing

    def to_json(self) -> Dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "nbits": self.nbits, "num_shards": self.num_shards,
                "routing": self.routing, "shards": [shard_directory("", s).name for s in range(self.num_shards)]}

    def __repr__(self) -> str:
        return f"Manifest(nbits={self.nbits}, num_shards={self.num_shards})"


def write_manifest(root: PathLike, manifest: Manifest) -> None:
    _write_json(Path(root) / MANIFEST, manifest.to_json())


def read_manifest(root: PathLike) -> Manifest:
    """The manifest of a sharded index directory; FileNotFoundError / ValueError when there is none."""
    path = Path(root) / MANIFEST
    if not path.exists() and Path(root).is_dir():
        raise FileNotFoundError(f"'{root}' is not a sharded index (no {MANIFEST})")
    value = _read_json(path, "sharded index manifest")
    if value.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not a sharded index manifest (format {value.get('format')!r})")
    if value.get("version") != VERSION:
        raise ValueError(f"'{path}' has format version {value.get('version')!r}; this nash_index reads {VERSION}")
    try:
        return Manifest(value["nbits"], value["num_shards"], value["routing"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"'{path}' is missing or has a bad field: {exc}") from None


class ShardState:
    """A shard's ``state.json``: which generation is current, the largest id it ever held, and the
    operation ids applied most recently (kept across compactions; see :data:`RECENT_OPS`)."""

    def __init__(self, generation: int = 0, max_id: int = -1, recent_ops: Optional[List[str]] = None) -> None:
        self.generation = generation
        self.max_id = max_id
        self.recent_ops = list(recent_ops or [])[-RECENT_OPS:]

    @classmethod
    def read(cls, directory: PathLike) -> "ShardState":
        value = _read_json(Path(directory) / STATE, "shard state")
        try:
            return cls(int(value["generation"]), int(value["max_id"]), [str(op) for op in value["recent_ops"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"shard state in '{directory}' is missing or has a bad field: {exc}") from None

    def write(self, directory: PathLike) -> None:
        _write_json(Path(directory) / STATE, {"generation": self.generation, "max_id": self.max_id,
                                              "recent_ops": self.recent_ops[-RECENT_OPS:]})


def write_shard(root: PathLike, shard: int, index: BaseIndex, generation: int = 0,
                recent_ops: Optional[List[str]] = None, max_id: int = -1) -> None:
    """Writes ``index`` as generation ``generation`` of shard ``shard`` (with an empty journal) and
    makes it current. Used by ``ShardedIndex.create`` / ``save`` and by ``encode_to_shards``."""
    directory = shard_directory(root, shard)
    directory.mkdir(parents=True, exist_ok=True)
    index.save(index_path(directory, generation))
    with atomic_file(journal_path(directory, generation)):
        pass
    ids = index.ids()  # max_id: the largest id ever held, which may have been removed since
    max_id = max(max_id, int(ids.max()) if ids.size else -1)
    ShardState(generation, max_id, recent_ops).write(directory)
