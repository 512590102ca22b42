"""Read replicas of each shard: reads spread over them, a dead one never stalls a query.

Design: shard ``s`` has ``R`` actors. Actor 0 is its only writer (journal, compaction); actors
1..R-1 are read replicas that map the same shard file and replay the same journal read-only
(:class:`~.store.ShardStore` with ``writable=False``). A change is acknowledged once the writer
has journalled it *and* every live replica has applied it in memory (the driver forwards it, with
the same operation id), so every replica answers every read exactly as the writer would.

Reads (``search``, ``range_search``, ``reconstruct``) go round-robin over a shard's actors. A
read replica's call fails at once when its actor dies (no Ray retry), and the read is sent to the
next actor of that shard; a replica that has not answered within ``hedge_s`` gets a second copy
of the read sent to another actor, the first answer winning. A replica that died, timed out or
failed a forwarded change is replaced by a fresh actor, which loads the shard from disk: the swap
happens under the index's change lock, so every change is either on disk before the new actor
reads it (the writer journals before the driver forwards) or forwarded to the new actor.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from .cluster import ActorSpec, start_actor

__all__ = ["HEDGE_S", "Replicas"]

_log = logging.getLogger(__name__)
#: A read not answered by one replica within this many seconds is also sent to another.
HEDGE_S = 5.0


class Replicas:
    """Every shard's actors (writer first) and the spreading of reads over them."""

    def __init__(self, groups: List[List[Any]], spec: ActorSpec, change_lock: Any, hedge_s: float = HEDGE_S) -> None:
        self.groups = groups
        self.spec = spec
        self.hedge_s = hedge_s
        self._change_lock = change_lock
        self._next = [0] * len(groups)
        self._down: Set[Tuple[int, int]] = set()  # being replaced: not asked
        self._state = threading.Lock()
        self.replaced = 0  # replacements started (tests and info)

    @property
    def count(self) -> int:
        return len(self.groups[0])

    def all_actors(self) -> List[Any]:
        return [actor for group in self.groups for actor in group]

    # -- reads -----------------------------------------------------------------------------------
    def read(self, method: str, args: tuple, shards: Sequence[int], timeout_s: Optional[float]) -> List[Any]:
        """``method(*args)`` answered by one actor of each shard in ``shards``, in that order."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pending: Dict[Any, Tuple[int, int]] = {}
        tried: Dict[int, Set[int]] = {s: set() for s in shards}
        answers: Dict[int, Any] = {}
        for shard in shards:
            self._send(shard, method, args, tried, pending)
        try:
            while len(answers) < len(tried):
                self._wait_one(method, args, deadline, pending, tried, answers)
        finally:
            for ref in pending:  # hedged copies nobody waits for
                ray.cancel(ref)
        return [answers[s] for s in shards]

    def _wait_one(self, method: str, args: tuple, deadline: Optional[float], pending: Dict[Any, Tuple[int, int]],
                  tried: Dict[int, Set[int]], answers: Dict[int, Any]) -> None:
        wait_s = self.hedge_s if deadline is None else max(0.0, min(self.hedge_s, deadline - time.monotonic()))
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait_s)
        if not ready:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"shards did not answer {method} within timeout_s")
            for shard in {s for s, _ in pending.values()} - set(answers):  # slow: ask another replica too
                self._send(shard, method, args, tried, pending)
            return
        ref = ready[0]
        shard, replica = pending.pop(ref)
        if shard in answers:
            return
        try:
            answers[shard] = ray.get(ref)
        except RayTaskError:
            raise
        except RayActorError as exc:
            self.replace(shard, replica)
            if not self._send(shard, method, args, tried, pending) and shard not in {s for s, _ in pending.values()}:
                from .fanout import ShardUnavailableError

                raise ShardUnavailableError(f"shard {shard} could not answer {method}: every replica "
                                            f"failed ({exc.__class__.__name__})") from exc

    def _send(self, shard: int, method: str, args: tuple, tried: Dict[int, Set[int]],
              pending: Dict[Any, Tuple[int, int]]) -> bool:
        """Sends the read to the shard's next actor not yet tried; False when none is left."""
        replica = self._pick(shard, tried[shard])
        if replica is None:
            return False
        tried[shard].add(replica)
        actor = self.groups[shard][replica]
        call = getattr(actor, method)
        if replica == 0:  # the writer's calls are retried by Ray after a restart: not for a read here
            call = call.options(max_task_retries=0)
        pending[call.remote(*args)] = (shard, replica)
        return True

    def _pick(self, shard: int, tried: Set[int]) -> Optional[int]:
        with self._state:
            for step in range(self.count):
                replica = (self._next[shard] + step) % self.count
                if replica not in tried and (shard, replica) not in self._down:
                    self._next[shard] = (replica + 1) % self.count
                    return replica
        return None

    # -- changes ---------------------------------------------------------------------------------
    def forward(self, method: str, calls: Sequence[Tuple[int, tuple]], timeout_s: Optional[float]) -> None:
        """Applies a change the writers acknowledged to every read replica of those shards (the
        caller holds the change lock). A replica that fails it or does not answer is replaced."""
        refs = {}
        for shard, args in calls:  # a replacement still opening gets it too: Ray queues it until then
            for replica in range(1, self.count):
                refs[getattr(self.groups[shard][replica], method).remote(*args)] = (shard, replica)
        wait_s = max(self.hedge_s, timeout_s or 0.0)
        for ref, (shard, replica) in refs.items():
            try:
                ray.get(ref, timeout=wait_s)
            except (RayActorError, RayTaskError, GetTimeoutError) as exc:
                _log.warning("replica %d of shard %d failed %s (%s): replacing it", replica, shard, method, exc)
                self._swap(shard, replica)  # the change lock is held: swap now

    def replace(self, shard: int, replica: int) -> None:
        """Starts replacing a dead replica in the background (reads go on with the others). The
        writer (replica 0) is not replaced: Ray restarts it and it replays its journal."""
        if replica == 0:
            return
        with self._state:
            if (shard, replica) in self._down:
                return
            self._down.add((shard, replica))
        threading.Thread(target=self._replace_locked, args=(shard, replica), daemon=True).start()

    def _replace_locked(self, shard: int, replica: int) -> None:
        with self._change_lock:  # no change in flight while the new actor takes the old one's place
            self._swap(shard, replica)

    def _swap(self, shard: int, replica: int) -> None:
        with self._state:
            self._down.add((shard, replica))
            old = self.groups[shard][replica]
        ray.kill(old, no_restart=True)
        new = start_actor(self.spec, shard, replica)
        with self._state:
            self.groups[shard][replica] = new
            self.replaced += 1
        threading.Thread(target=self._bring_up, args=(shard, replica, new), daemon=True).start()

    def _bring_up(self, shard: int, replica: int, actor: Any) -> None:
        try:
            ray.get(actor.ping.remote())
        except Exception as exc:  # it cannot open the shard: leave it out of the reads
            _log.warning("replacement of replica %d of shard %d did not open: %s", replica, shard, exc)
            return
        with self._state:
            if self.groups[shard][replica] is actor:
                self._down.discard((shard, replica))
