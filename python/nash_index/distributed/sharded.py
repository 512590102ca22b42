"""``ShardedIndex``: one exact Hamming index over shard files served by Ray actors."""
from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..index import BaseIndex
from ..index.factory import auto_kind, check_index_kind
from .cluster import ActorSpec, check_cpus, check_replicas, connect, start_actors, stop_actors
from .fanout import FanOut
from .layout import Manifest, read_manifest, write_manifest
from .lock import WriterLock
from .merge import merge_knn, merge_range
from .replicas import HEDGE_S, Replicas
from .routing import shard_of
from .store import ShardStore

__all__ = ["ShardedIndex"]

PathLike = Union[str, Path]


class ShardedIndex(BaseIndex):
    """An exact Hamming index split over ``num_shards`` shard files, each served by one Ray actor.

    A :class:`~nash_index.index.BaseIndex`: its public methods check the arguments as for the local
    indexes, with the same errors, and call the hooks below. ``search`` sends the queries to every
    shard once and merges the shards' top-k by (distance, id): the result is identical, distances
    and ids, to one :class:`FlatIndex` holding all the codes (why: :mod:`nash_index.distributed.merge`).
    ``range_search`` merges the shards' CSR results the same way. ``reconstruct`` asks the one shard
    the id routes to; ``codes()`` / ``ids()`` gather every shard's, in shard order and then each
    shard's storage order (the same codes as a FlatIndex would hold, in another order).

    Made with :meth:`create` (an empty index) or :meth:`open` (an existing directory, e.g. one
    written by :func:`encode_to_shards`); ``with ShardedIndex.open(path) as index: ...`` closes
    it.

    **One writer per directory.** ``open`` takes an exclusive lock on ``DIR/writer.lock`` (see
    :mod:`nash_index.distributed.lock`) held until :meth:`close` or the end of the process, ``kill
    -9`` included: a second writer, in any process, is refused with :class:`DirectoryLockedError`
    naming the holder (pid, host, since when). ``open(..., read_only=True)`` takes no lock and
    refuses changes; it answers from the files and journals as they were when it opened.

    **Replicas.** ``open(..., replicas=R)`` starts R actors per shard: the first writes, the
    others are read replicas; searches spread over them and a dead one never stalls a query (see
    :mod:`nash_index.distributed.replicas`). Changes are acknowledged once on every replica.

    **Routing.** ``add`` sends each code to shard ``splitmix64(id) % num_shards``
    (:func:`~nash_index.distributed.routing.shard_of`); ids default to consecutive integers after
    the largest id so far, as in the local indexes. ``remove`` and ``reset`` reach every shard.

    **Durability.** ``add``, ``remove`` and ``reset`` return once every shard involved has written the
    change to its journal and synced it, so a shard actor that is killed restarts (Ray's
    ``max_restarts``), maps its file, replays its journal and answers exactly as before; a call in
    flight at that moment is retried by Ray once the actor is back (changes carry operation ids, so
    a retried add is not applied twice), or fails with :class:`ShardUnavailableError`: never a
    partial answer. An add that fails on one shard (a duplicate id) is undone on the others before
    the error is raised. :meth:`compact` folds the journals into new shard files; ``reset`` writes an
    empty one on every shard (so an error on one shard leaves the others empty: call it again).

    **Threads.** Each actor reserves ``cpus_per_shard`` CPUs from Ray (default: the cluster's CPUs
    divided by the shard count) and sizes its C++ search pool to the whole CPUs among them (at
    least one thread): shards that share a node share its cores instead of oversubscribing them.
    With more shards than cores, each shard still gets one thread.

    **Placement.** The shards form one placement group, one bundle per shard: ``"spread"``
    (default) over as many nodes as possible, ``"pack"`` onto as few. On a multi-node cluster,
    ``path`` must be on a filesystem every node mounts: a restarted actor may land on another node.

    **Threads of the caller.** Searches may run from several threads at once; changes (``add``,
    ``remove``, ``reset``, ``compact``, ``save``) from several threads are applied one at a time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("make a ShardedIndex with ShardedIndex.create(...) or ShardedIndex.open(...)")

    # -- making and opening ----------------------------------------------------------------------
    @classmethod
    def create(cls, path: PathLike, nbits: int, num_shards: int, kind: Union[str, Sequence[str]] = "auto",
               address: Optional[str] = None, *, n_expected: Optional[int] = None, **open_options: Any
               ) -> "ShardedIndex":
        """A new, empty sharded index in directory ``path`` (created; it must not hold one already).

        ``kind``: ``"auto"`` (each shard by :func:`make_index`'s rule for ``n_expected /
        num_shards`` codes), ``"flat"``, ``"mih"``, or one of those per shard (any mix).
        ``address`` and ``open_options`` are as in :meth:`open`.
        """
        manifest = Manifest(nbits, num_shards)
        kinds = _shard_kinds(kind, manifest, n_expected)
        root = Path(path)
        if (root / "manifest.json").exists():
            raise FileExistsError(f"'{root}' already holds a sharded index; open it with ShardedIndex.open")
        root.mkdir(parents=True, exist_ok=True)
        for shard, shard_kind in enumerate(kinds):
            ShardStore.create(root, shard, manifest.nbits, shard_kind)
        write_manifest(root, manifest)  # last: a directory with a manifest is complete
        return cls.open(root, address, **open_options)

    @classmethod
    def open(cls, path: PathLike, address: Optional[str] = None, *, cpus_per_shard: Optional[float] = None,
             placement: str = "spread", max_restarts: int = -1, timeout_s: Optional[float] = None,
             fast_search: bool = False, populate: bool = False, replicas: int = 1, read_only: bool = False,
             hedge_s: float = HEDGE_S) -> "ShardedIndex":
        """Serves the sharded index in directory ``path``: one actor per shard.

        ``address``: the Ray cluster to join (``ray.init(address=...)``: ``"auto"``,
        ``"host:6379"``, ``"ray://host:10001"``); None joins the cluster this process is already
        connected to, else ``RAY_ADDRESS``'s, else starts a local one. ``cpus_per_shard``,
        ``placement``: see the class docstring. ``max_restarts``: how often Ray restarts a dead
        shard actor (-1: always). ``timeout_s``: how long a call waits for the shards (None: no
        limit) before TimeoutError. ``fast_search``: small query batches go through a Ray
        compiled graph: lower latency, but the actors poll for work and use CPU while idle (see
        :mod:`nash_index.distributed.fanout`). ``populate``: each shard maps its whole file up front.
        ``replicas``: actors per shard (1: the writer only); with more, ``cpus_per_shard`` is per
        actor and defaults to the cluster's CPUs over all actors, and ``hedge_s`` is how long a
        read waits for one replica before asking another too. ``read_only``: take no writer lock
        and refuse changes (DirectoryLockedError names the writer that holds the lock otherwise);
        its default ``cpus_per_shard`` shares the CPUs that are free (a writer may hold the rest).
        """
        manifest = read_manifest(path)
        replicas = check_replicas(replicas)
        self = object.__new__(cls)
        self.path = Path(path).resolve()
        self.manifest = manifest
        self.read_only = bool(read_only)
        self._lock = None if self.read_only else WriterLock(self.path)  # before any actor opens a journal
        try:
            connect(address)
            self.cpus_per_shard = check_cpus(cpus_per_shard, manifest.num_shards * replicas, self.read_only)
            self.timeout_s = timeout_s
            self._changing = threading.Lock()  # changes one at a time; searches run alongside
            spec = ActorSpec(str(self.path), self.cpus_per_shard, max_restarts, populate, not self.read_only, replicas)
            groups = start_actors(spec, manifest.num_shards, placement)
            self._group = spec.group
            self._fanout = FanOut(Replicas(groups, spec, self._changing, hedge_s), timeout_s, fast_search)
            self._refresh_counts()
        except BaseException:
            self.close()
            raise
        return self

    def _refresh_counts(self) -> None:
        counts = self._fanout.call("counts")
        self._ntotals = [int(n) for n, _ in counts]
        self._next_id = max(int(m) for _, m in counts) + 1

    # -- properties ------------------------------------------------------------------------------
    @property
    def nbits(self) -> int:
        return self.manifest.nbits

    @property
    def num_shards(self) -> int:
        return self.manifest.num_shards

    @property
    def actors(self) -> List[Any]:
        """The shard actors' handles (each shard's writer), in shard order."""
        self._check_open()
        return list(self._fanout.actors)

    @property
    def replicas(self) -> int:
        """Actors per shard (the writer and its read replicas)."""
        self._check_open()
        return self._fanout.replicas.count

    def replica_actors(self) -> List[List[Any]]:
        """Per shard, the handles of all its actors (writer first)."""
        self._check_open()
        return [list(group) for group in self._fanout.replicas.groups]

    @property
    def ntotal(self) -> int:
        """Number of codes over all shards (asked of the shards)."""
        self._check_open()
        self._refresh_counts()
        return sum(self._ntotals)

    def shard_sizes(self) -> List[int]:
        """Codes per shard, in shard order."""
        self._check_open()
        self._refresh_counts()
        return list(self._ntotals)

    def info(self) -> List[Dict[str, Any]]:
        """Each shard's kind, size, generation, journal size, threads and process."""
        self._check_open()
        return self._fanout.call("info")

    # -- queries (the hooks of BaseIndex: the arguments arrive checked) --------------------------
    def _search(self, queries: np.ndarray, k: int, num_threads: int) -> Tuple[np.ndarray, np.ndarray]:
        self._check_open()
        k_shard = max(1, min(k, sum(self._ntotals)))  # no shard can contribute more
        distances, ids = merge_knn(self._fanout.search(queries, k_shard, num_threads or None), k_shard)
        if k_shard < k:
            distances, ids = _pad(distances, ids, k)
        return distances, ids

    def _range_search(self, queries: np.ndarray, radius: int, num_threads: int) -> Tuple[np.ndarray, ...]:
        self._check_open()
        parts = self._fanout.broadcast("range_search", queries, radius, num_threads or None, read=True)
        return merge_range(parts, queries.shape[0])

    def _reconstruct(self, id: int) -> Optional[np.ndarray]:
        self._check_open()
        shard = int(shard_of(np.array([id], dtype=np.int64), self.num_shards)[0])
        return self._fanout.read("reconstruct", id, shards=[shard])[0]

    def codes(self) -> np.ndarray:
        """Every stored code (a copy), in shard order, each shard's in its storage order."""
        return np.concatenate(self._gather("codes"))

    def ids(self) -> np.ndarray:
        """The ids of :meth:`codes`, in the same order."""
        return np.concatenate(self._gather("ids"))

    def _gather(self, method: str) -> List[np.ndarray]:
        self._check_open()
        with self._changing:  # every shard's part from between the same two changes
            return self._fanout.call(method)

    # -- changes (hooks, then what only a sharded index has) -------------------------------------
    def _add(self, codes: np.ndarray, ids: Optional[np.ndarray]) -> None:
        """Sends each code to the shard its id routes to; returns once all are on disk."""
        self._check_writable()
        with self._changing:
            self._add_routed(codes, ids)

    def _add_routed(self, rows: np.ndarray, ids: Optional[np.ndarray]) -> None:
        if ids is None:
            ids = np.arange(self._next_id, self._next_id + rows.shape[0], dtype=np.int64)
        if rows.shape[0] == 0:
            return
        owner = shard_of(ids, self.num_shards)
        op_id = uuid.uuid4().bytes
        calls = [(s, (np.ascontiguousarray(rows[owner == s]), ids[owner == s], op_id))
                 for s in np.unique(owner).tolist()]
        answers = self._fanout.call_each("add", calls)
        failures = [a for a in answers if isinstance(a, BaseException)]
        if failures:
            self._undo_adds(calls, answers, op_id)
            raise failures[0]
        self._fanout.forward("add", calls)
        for (shard, args), count in zip(calls, answers):
            self._ntotals[shard] += int(count)
        self._next_id = max(self._next_id, int(ids.max()) + 1)

    def _undo_adds(self, calls: List[Any], answers: List[Any], op_id: bytes) -> None:
        done = [(s, (args[1], op_id, uuid.uuid4().bytes)) for (s, args), a in zip(calls, answers)
                if not isinstance(a, BaseException)]
        if done:  # the replicas never saw the add: nothing to undo there
            self._fanout.call_each("undo_add", done)

    def _remove(self, ids: np.ndarray) -> int:
        """Removes from every shard; returns once the removals are on disk."""
        self._check_writable()
        with self._changing:
            op_id = uuid.uuid4().bytes
            counts = self._fanout.broadcast("remove", ids, op_id)
            self._fanout.forward("remove", [(s, (ids, op_id)) for s in range(self.num_shards)])
            for shard, count in enumerate(counts):
                self._ntotals[shard] -= int(count)
        return int(sum(counts))

    def reset(self) -> None:
        """Removes every code from every shard, durably; default ids start at 0 again, as after a
        local index's ``reset``."""
        self._check_writable()
        with self._changing:
            op_id = uuid.uuid4().bytes
            self._fanout.call("reset", op_id)
            self._fanout.forward("reset", [(s, (op_id,)) for s in range(self.num_shards)])
            self._refresh_counts()

    def compact(self) -> None:
        """Folds every shard's journal into a new shard file (its next generation)."""
        self._check_writable()
        with self._changing:
            self._fanout.call("compact")

    def save(self, path: Optional[PathLike] = None) -> None:
        """Without ``path``: compacts, so the directory holds self-contained shard files. With a
        new directory ``path`` (which every shard's node must see): writes a copy there, each
        shard with its journal folded in, which :meth:`open` serves."""
        self._check_writable()
        if path is None or Path(path).resolve() == self.path:
            self.compact()
            write_manifest(self.path, self.manifest)
            return
        target = Path(path)
        if (target / "manifest.json").exists() or any(target.glob("shard-*")):
            raise FileExistsError(f"'{target}' already holds shards; save to a new directory")
        target.mkdir(parents=True, exist_ok=True)
        with self._changing:
            self._fanout.call("save_copy", str(target.resolve()))
        write_manifest(target, self.manifest)

    def close(self) -> None:
        """Stops the shard actors (what was acknowledged is on disk) and releases the writer lock.
        Idempotent."""
        fanout = getattr(self, "_fanout", None)
        self._fanout = None
        try:
            if fanout is not None:
                fanout.teardown()
                stop_actors(fanout.replicas.all_actors(), self._group)
        finally:
            lock, self._lock = getattr(self, "_lock", None), None
            if lock is not None:  # after the actors: no journal is written once another writer may open
                lock.release()

    def _check_open(self) -> None:
        if getattr(self, "_fanout", None) is None:
            raise RuntimeError("this ShardedIndex is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise RuntimeError(f"this ShardedIndex of '{self.path}' is open read-only: it cannot change")

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: Ray may be gone already
            pass

    def __repr__(self) -> str:
        state = "closed" if getattr(self, "_fanout", None) is None else f"ntotal={sum(self._ntotals)}"
        return f"ShardedIndex(nbits={self.nbits}, num_shards={self.num_shards}, {state}, path='{self.path}')"


def _shard_kinds(kind: Union[str, Sequence[str]], manifest: Manifest, n_expected: Optional[int]) -> List[str]:
    if isinstance(kind, str):
        check_index_kind(kind)
        per_shard = None if n_expected is None else -(-int(n_expected) // manifest.num_shards)
        if kind == "auto":
            kind = auto_kind(manifest.nbits, per_shard)
        return [kind] * manifest.num_shards
    kinds = list(kind)
    if len(kinds) != manifest.num_shards:
        raise ValueError(f"kind must be one kind or one per shard ({manifest.num_shards}), got {len(kinds)}")
    return [check_index_kind(k, "kind") for k in kinds]


def _pad(distances: np.ndarray, ids: np.ndarray, k: int):
    nq, have = distances.shape
    out_d = np.full((nq, k), np.iinfo(np.int32).max, dtype=np.int32)
    out_i = np.full((nq, k), -1, dtype=np.int64)
    out_d[:, :have] = distances
    out_i[:, :have] = ids
    return out_d, out_i
