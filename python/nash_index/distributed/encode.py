"""``encode_to_shards``: the Ray Data job that encodes a corpus into a sharded index directory.

What runs where:

1. **Read** (Ray Data read tasks, on any node): the input files, as JSON Lines, Parquet or
   ``.npy`` vectors, in sorted path order.
2. **Encode** (a pool of Ray Data actors, each loading the saved pipeline once, torch-free):
   ``map_batches`` turns each batch of texts (or vectors) into packed codes. Only the codes (and
   the ids of ``id_field``) leave this stage: the texts are never gathered in one process.
3. **Route** (one Ray task per encoded block): gives each row its id (checking ``id_field``'s,
   with the row's place in the input) and splits the block into one part per shard by
   :func:`~nash_index.distributed.routing.shard_of`.
4. **Build** (one Ray task per shard, in parallel): fetches that shard's parts one at a time and
   adds each to the shard's index (sized for the shard's final count), then writes it with
   :func:`~.layout.write_shard`: memory is the index plus one part, not a copy of all its codes.

The driver only holds object references and per-block row counts. The manifest is written last,
so a directory with a manifest is complete. ``pipeline_dir`` and ``out_dir`` must be on a
filesystem every node sees (as for :class:`~nash_index.distributed.ShardedIndex`).
"""
from __future__ import annotations

import contextlib
import gc
import importlib
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import ray

from ..index import make_index
from ..index.factory import check_index_kind
from ..index.validation import check_positive_int
from ..pipeline import HashingPipeline
from .cluster import connect
from .input_rows import RowError, first_bad_json_row, locate_row
from .layout import MANIFEST, Manifest, shard_directory, write_manifest, write_shard
from .routing import shard_of

__all__ = ["FORMATS", "PIPELINE_DIR", "encode_to_shards"]

PathLike = Union[str, Path]
#: The saved pipeline is copied here, inside the output directory, so that queries can be encoded.
PIPELINE_DIR = "pipeline"
#: File extension -> input format.
FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".npy": "numpy"}
NUMPY_COLUMN = "data"  # the column ray.data.read_numpy makes
#: CPUs kept free of encoder actors for the read tasks that feed them: with one CPU per encoder and
#: ``concurrency`` = the cluster's CPUs, no read task could start and the job hung.
READ_CPUS = 1.0
_MAX_ID = np.iinfo(np.int64).max


def encode_to_shards(pipeline_dir: PathLike, inputs: Union[PathLike, Sequence[PathLike]], out_dir: PathLike,
                     num_shards: int, *, text_field: str = "text", id_field: Optional[str] = None,
                     kind: str = "auto", batch_size: int = 1024, concurrency: Optional[int] = None,
                     address: Optional[str] = None) -> Path:
    """Encodes every row of ``inputs`` with the pipeline saved in ``pipeline_dir`` and writes the
    codes as a sharded index in ``out_dir`` (which :meth:`ShardedIndex.open` serves); returns it.

    ``inputs``: a path or a list of paths, files or directories (searched recursively; names
    starting with ``.`` or ``_`` skipped), all of one format: JSON Lines (``.jsonl``/``.json``,
    the text in ``text_field``), Parquet (``.parquet``), or ``.npy`` float vectors (one row per
    document) for a pipeline that hashes vectors. In a directory, a ``.json`` file whose first line
    is not a JSON object (a pretty-printed ``meta.json`` beside a corpus's ``.jsonl`` parts) is
    metadata and is skipped; a file named explicitly is always read.

    **Ids.** With ``id_field``, each row's id is that field: integers >= 0, unique (ValueError
    otherwise). Without it, a row's id is its position in the input: files in sorted path order,
    rows in file order, 0..n-1. **Routing:** id goes to shard ``splitmix64(id) % num_shards``, the
    rule of :meth:`ShardedIndex.add`.

    ``kind``: each shard's index, ``"auto"`` (by :func:`make_index`'s rule for that shard's size),
    ``"flat"`` or ``"mih"``. ``batch_size``: rows per encoded batch. ``concurrency``: encoder
    actors (None: an autoscaling pool from one up). ``address``: the Ray cluster to join, as in
    :meth:`ShardedIndex.open`. ``out_dir`` must not hold a sharded index (FileExistsError); it
    also receives a copy of the pipeline in ``out_dir/pipeline/``.
    """
    root = _check_out_dir(out_dir)
    nbits, takes_vectors, takes_texts = _pipeline_facts(pipeline_dir)
    manifest = Manifest(nbits, num_shards)
    check_index_kind(kind)
    batch_size = check_positive_int(batch_size, "batch_size")
    if concurrency is not None:
        concurrency = check_positive_int(concurrency, "concurrency")
    files, fmt = input_files(inputs)
    _check_format(fmt, takes_vectors, takes_texts, id_field)
    connect(address)
    blocks = _unwrap(lambda: _encoded_blocks(Path(pipeline_dir).resolve(), files, fmt, text_field, id_field,
                                             batch_size, concurrency), files, fmt)
    parts, sizes = _unwrap(lambda: _route(blocks, manifest.num_shards, id_field), files, fmt)
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        _unwrap(lambda: ray.get([_build_shard.remote(str(root), s, manifest.nbits, kind, id_field, int(sizes[s]),
                                                     parts[s]) for s in range(manifest.num_shards)]), files, fmt)
        shutil.copytree(pipeline_dir, root / PIPELINE_DIR)
    except BaseException:
        _remove_partial(root, manifest.num_shards, created)
        raise
    write_manifest(root, manifest)  # last: a directory with a manifest is complete
    return root


# ---- checks ------------------------------------------------------------------------------------
def _check_out_dir(out_dir: PathLike) -> Path:
    root = Path(out_dir).resolve()
    if (root / MANIFEST).exists():
        raise FileExistsError(f"'{out_dir}' already holds a sharded index; write to a new directory")
    if root.is_dir() and (any(root.glob("shard-*")) or (root / PIPELINE_DIR).exists()):
        raise FileExistsError(f"'{out_dir}' holds the shards of an unfinished run; remove them or use a new directory")
    return root


def _remove_partial(root: Path, num_shards: int, created: bool) -> None:
    """Removes what a failed run wrote (``_check_out_dir`` made sure none of it was there before)."""
    for path in [shard_directory(root, s) for s in range(num_shards)] + [root / PIPELINE_DIR]:
        shutil.rmtree(path, ignore_errors=True)
    if created:
        with contextlib.suppress(OSError):
            root.rmdir()


def _pipeline_facts(pipeline_dir: PathLike) -> Tuple[int, bool, bool]:
    """(nbits, takes vectors, takes texts): read once in the driver, to fail fast."""
    pipe = HashingPipeline.load(pipeline_dir, mmap=True)
    return pipe.nbits, pipe.uses_vectors, not pipe.uses_vectors or pipe.embedder is not None


def input_files(inputs: Union[PathLike, Sequence[PathLike]]) -> Tuple[List[str], str]:
    """The input files (directories expanded), sorted by path, and their one format."""
    paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    files: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += [f for f in path.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))
                      and not is_metadata_json(f)]
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"inputs: no file or directory at '{path}'")
    if not files:
        raise ValueError(f"inputs: no input file in {[str(p) for p in paths]}")
    files = sorted({f.resolve() for f in files})
    unknown = sorted({f.suffix or f.name for f in files if f.suffix.lower() not in FORMATS})
    if unknown:
        raise ValueError(f"inputs: unknown file type {', '.join(unknown)} (expected {', '.join(FORMATS)})")
    formats = sorted({FORMATS[f.suffix.lower()] for f in files})
    if len(formats) > 1:
        raise ValueError(f"inputs: mixed formats ({', '.join(formats)}); give files of one format")
    return [str(f) for f in files], formats[0]


def is_metadata_json(path: Path) -> bool:
    """A ``.json`` file that is not JSON Lines: its first non-blank line is not a JSON object."""
    if path.suffix.lower() != ".json":
        return False
    with open(path, "rb") as fh:
        first = next((line for line in fh if line.strip()), b"")
    try:
        return not isinstance(json.loads(first), dict)
    except ValueError:
        return True


def _check_format(fmt: str, takes_vectors: bool, takes_texts: bool, id_field: Optional[str]) -> None:
    if fmt == "numpy" and id_field is not None:
        raise ValueError("id_field: .npy inputs have no fields (their rows are numbered by position)")
    if fmt == "numpy" and not takes_vectors:
        raise ValueError("inputs: .npy vectors need a pipeline of vectors (an embedder or fitted on embeddings=); "
                         "this one hashes TF-IDF rows of texts")
    if fmt != "numpy" and not takes_texts:
        raise ValueError("inputs: this pipeline was fitted on embeddings= without an embedder: give .npy vectors")


# ---- stage 1 and 2: read and encode (Ray Data) ---------------------------------------------------
class _Encoder:
    """``map_batches`` callable: loads the pipeline once per actor, then encodes batches."""

    def __init__(self, pipeline_dir: str, vectors: bool, text_field: str, id_field: Optional[str]) -> None:
        self.pipe = HashingPipeline.load(pipeline_dir, mmap=True)  # mmap: its own index, if any, is not needed
        self.vectors = vectors
        self.text_field = text_field
        self.id_field = id_field

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if self.vectors:
            codes = self.pipe.encode(None, embeddings=np.asarray(batch[NUMPY_COLUMN], dtype=np.float32))
        else:
            codes = self.pipe.encode(_texts(batch, self.text_field))
        out = {"code": np.ascontiguousarray(codes, dtype=np.uint8)}
        if self.id_field is not None:
            out["id"] = _ids(batch, self.id_field)
        return out


def _texts(batch: Dict[str, np.ndarray], text_field: str) -> List[str]:
    if text_field not in batch:
        raise ValueError(f"text_field: the inputs have no field {text_field!r} (they have {sorted(batch)})")
    texts = batch[text_field].tolist()
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:  # a row without the field reads as None or NaN
        raise ValueError(f"text_field: field {text_field!r} must hold a text on every row, found {bad[0]!r}")
    return texts


def _ids(batch: Dict[str, np.ndarray], id_field: str) -> np.ndarray:
    if id_field not in batch:
        raise ValueError(f"id_field: the inputs have no field {id_field!r} (they have {sorted(batch)})")
    ids = np.asarray(batch[id_field])
    if ids.dtype.kind == "f":  # JSON integers beyond int64 mixed with others are read as floats
        return ids.astype(np.float64)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"id_field: field {id_field!r} must hold integers on every row, found {ids.dtype} values")
    # Passed on as read: the route stage checks the range, knowing each row's place in the input.
    return ids.astype(np.uint64 if ids.dtype.kind == "u" else np.int64)


def _check_fields(ds: Any, text_field: str, id_field: Optional[str]) -> None:
    """A field that no row has (a misspelt name) is one clear error before any encoding: the schema
    comes from the first block. A field missing from only some rows is caught by the encoders."""
    schema = ds.schema()
    names = [] if schema is None else list(schema.names)
    for argument, field in (("text_field", text_field), ("id_field", id_field)):
        if field is not None and schema is not None and field not in names:
            raise ValueError(f"{argument}: the inputs have no field {field!r} (they have {', '.join(names)})")


def _cache_missing_http_filesystem() -> None:
    """Ray Data lists Parquet paths on several threads, each importing fsspec's HTTP filesystem.
    Without aiohttp that import fails, and two threads importing it at once can see the half-made
    module: an ImportError that Ray does not expect (it expects ModuleNotFoundError, "no HTTP").
    Recording the failed import in ``sys.modules`` makes every later import fail the expected way."""
    name = "fsspec.implementations.http"
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
    except ImportError:
        sys.modules[name] = None  # type: ignore[assignment]  # import now raises ModuleNotFoundError


def _read(files: List[str], fmt: str) -> Any:
    _cache_missing_http_filesystem()
    if fmt == "json":
        return ray.data.read_json(files, lines=True)
    if fmt == "parquet":
        return ray.data.read_parquet(files)
    return ray.data.read_numpy(files)


def _encoded_blocks(pipeline_dir: Path, files: List[str], fmt: str, text_field: str, id_field: Optional[str],
                    batch_size: int, concurrency: Optional[int]) -> List[Any]:
    """References to the encoded blocks (dicts of numpy ``code`` [, ``id``]), in input order."""
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.raise_original_map_exception)
    # Input order is what numbers the rows. The encoder's own error (a missing field) is raised as
    # itself, not as Ray Data's UserCodeException, which loses it (Ray then logs it as its own error).
    context.execution_options.preserve_order = True
    context.raise_original_map_exception = True
    compute = ray.data.ActorPoolStrategy(min_size=1) if concurrency is None else \
        ray.data.ActorPoolStrategy(size=concurrency)
    try:
        args = (str(pipeline_dir), fmt == "numpy", text_field, id_field)
        ds = _read(files, fmt)
        if fmt != "numpy":
            _check_fields(ds, text_field, id_field)
        ds = ds.map_batches(_Encoder, fn_constructor_args=args, batch_size=batch_size, batch_format="numpy",
                            compute=compute, num_cpus=encoder_cpus(concurrency))
        return ds.to_numpy_refs()
    finally:
        context.execution_options.preserve_order, context.raise_original_map_exception = saved


def encoder_cpus(concurrency: Optional[int]) -> float:
    """CPUs each encoder actor reserves: one, or less so that ``concurrency`` of them leave
    :data:`READ_CPUS` of the cluster to the read tasks."""
    total = float(ray.cluster_resources().get("CPU", 1.0))
    if concurrency is None or concurrency * 1.0 <= total - READ_CPUS:
        return 1.0
    return max(0.01, math.floor(max(total - READ_CPUS, 0.0) / concurrency * 100) / 100)


# ---- stage 3 and 4: route and build (Ray tasks) -----------------------------------------------------
@ray.remote
def _row_count(block: Dict[str, np.ndarray]) -> int:
    return int(block["code"].shape[0])


def _checked_ids(raw: np.ndarray, offset: int, id_field: str) -> np.ndarray:
    """``id_field``'s ids of one block as int64, each in 0..2^63-1 (RowError naming the row)."""
    expected = f"id_field: ids must be integers in 0..{_MAX_ID}"
    if raw.dtype.kind == "f":
        whole = np.isfinite(raw) & (raw == np.floor(raw)) & (raw >= 0) & (raw < 2.0 ** 63)
        pos = int(np.argmin(whole)) if not whole.all() else 0
        raise RowError(f"{expected}; field {id_field!r} was read as floats (a missing id, a non-integer, or an "
                       f"id beyond {_MAX_ID} among integers): found {raw[pos]:.17g}", offset + pos)
    bad = raw > _MAX_ID if raw.dtype.kind == "u" else raw < 0
    if bad.any():
        pos = int(np.argmax(bad))
        raise RowError(f"{expected}, found {int(raw[pos])} in field {id_field!r}", offset + pos)
    return raw.astype(np.int64)


@ray.remote
def _split(block: Dict[str, np.ndarray], offset: int, num_shards: int, id_field: Optional[str]) -> Any:
    """One block's (ids, codes) split by owning shard, then the part sizes: ``num_shards + 1`` values."""
    codes = np.asarray(block["code"], dtype=np.uint8)
    if id_field is None:
        ids = np.arange(offset, offset + codes.shape[0], dtype=np.int64)
    else:
        ids = _checked_ids(np.asarray(block["id"]), offset, id_field)
    owner = shard_of(ids, num_shards)
    parts = tuple((ids[owner == s], np.ascontiguousarray(codes[owner == s])) for s in range(num_shards))
    return parts + (np.bincount(owner, minlength=num_shards),)


def _route(blocks: List[Any], num_shards: int, id_field: Optional[str]) -> Tuple[List[List[Any]], np.ndarray]:
    """Per shard, the references to its part of every block; and each shard's final size."""
    counts = ray.get([_row_count.remote(b) for b in blocks])  # each block's first row: for ids and errors
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist() if counts else []
    per_shard: List[List[Any]] = [[] for _ in range(num_shards)]
    size_refs = []
    for block, offset in zip(blocks, offsets):
        refs = _split.options(num_returns=num_shards + 1).remote(block, offset, num_shards, id_field)
        for shard in range(num_shards):
            per_shard[shard].append(refs[shard])
        size_refs.append(refs[num_shards])
    sizes = np.sum(ray.get(size_refs), axis=0) if size_refs else np.zeros(num_shards, dtype=np.int64)
    return per_shard, sizes


@ray.remote
def _build_shard(root: str, shard: int, nbits: int, kind: str, id_field: Optional[str], size: int,
                 parts: List[Any]) -> int:
    """Builds and writes one shard, fetching its parts one at a time (``parts`` arrives as a list
    of references, which Ray does not resolve); returns its size."""
    index = make_index(nbits, size, kind)
    for ref in parts:
        ids, codes = ray.get(ref)
        try:
            index.add(codes.reshape(-1, nbits // 8), ids)
        except ValueError:  # equal ids route to one shard, so each shard sees all copies of its ids
            raise ValueError(f"id_field: id {_repeated(index, ids)} appears more than once in field {id_field!r}") from None
        del ids, codes
    write_shard(root, shard, index)
    return int(index.ntotal)


def _repeated(index: Any, ids: np.ndarray) -> int:
    held = np.intersect1d(ids, index.ids())
    if held.size:
        return int(held[0])
    unique, counts = np.unique(ids, return_counts=True)
    return int(unique[counts > 1][0])


def _unwrap(fn: Any, files: Sequence[str] = (), fmt: str = "") -> Any:
    """``fn()``, with a Ray task's own exception (a ValueError naming an argument) raised as itself,
    a row error naming its file and row, and a JSON Lines file Ray Data could not parse located."""
    try:
        return fn()
    except Exception as exc:  # a RayTaskError around the task's own error
        cause = _own_error(exc)
        if isinstance(cause, RowError):
            cause = ValueError(f"{locate_row(files, fmt, cause.row)}: {cause}")
        elif fmt == "json":  # Ray Data's readers name neither file nor line of a malformed row
            cause = first_bad_json_row(files) or cause
        if cause is None:
            raise
    # Raised outside the except block, without Ray's traceback: that traceback reaches the failed Ray
    # Data job, whose encoder actors keep their CPUs until it is collected, stalling the next job.
    cause.__context__ = cause.__cause__ = None
    gc.collect()
    raise cause


def _own_error(exc: BaseException) -> Optional[BaseException]:
    """The ValueError / OSError of our own code under Ray's wrappers, if that is what ``exc`` is."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, (ValueError, OSError)) and not isinstance(exc, ray.exceptions.RayError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
        seen += 1
    return None
