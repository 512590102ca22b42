"""Connecting to Ray and placing the shard actors: ``replicas`` actors per shard (the first of each
shard is its writer, the others read replicas), one placement-group bundle each."""
from __future__ import annotations

import math
import os
from typing import Any, List, Optional

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from ..index.validation import check_choice, check_int
from .actor import ShardActor

__all__ = ["PLACEMENTS", "check_cpus", "check_replicas", "connect", "start_actor", "start_actors", "stop_actors"]

#: ``"spread"``: shards on as many nodes as possible (more memory and cores per shard);
#: ``"pack"``: as few nodes as possible (less network per query).
PLACEMENTS = ("spread", "pack")
PLACEMENT_TIMEOUT_S = 30.0
# A call in flight when its actor dies is sent again once Ray has restarted it (every shard call is
# idempotent: changes carry operation ids); a request that kills its actor each time fails after these.
TASK_RETRIES = 3
_RemoteShard = ray.remote(ShardActor)


def connect(address: Optional[str]) -> None:
    """Joins the cluster at ``address`` (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``,
    ``"local"``: always a new one); with None, as ``ray.init()``: the cluster this process is
    connected to, else ``RAY_ADDRESS``'s, else one already running on this machine (``ray
    start``), else a new local one."""
    if ray.is_initialized():
        return
    if address is None and not os.environ.get("RAY_ADDRESS"):
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)


def check_cpus(cpus_per_shard: Any, num_shards: int, free_only: bool = False) -> float:
    """CPUs reserved per shard actor; None: the cluster's CPUs shared evenly among the actors
    (``free_only``: the CPUs nothing holds now, for a read-only open beside a writer)."""
    if cpus_per_shard is None:
        total = float(ray.cluster_resources().get("CPU", 1.0))
        if free_only:
            total = float(ray.available_resources().get("CPU", 0.0)) or total
        return max(math.floor(total / num_shards * 1e4) / 1e4, 0.0001)  # Ray counts CPUs to 1e-4
    if isinstance(cpus_per_shard, bool) or not isinstance(cpus_per_shard, (int, float)) or not cpus_per_shard > 0:
        raise ValueError(f"cpus_per_shard must be a positive number of CPUs, got {cpus_per_shard!r}")
    return float(cpus_per_shard)


def check_replicas(replicas: Any) -> int:
    replicas = check_int(replicas, "replicas")
    if replicas < 1:
        raise ValueError(f"replicas must be >= 1 (actors per shard), got {replicas}")
    return replicas


class ActorSpec:
    """What every shard actor of one ShardedIndex is started with (a replacement too)."""

    def __init__(self, root: str, cpus: float, max_restarts: Any, populate: bool, writable: bool,
                 replicas: int, group: Any = None) -> None:
        self.root, self.cpus, self.populate, self.writable, self.replicas = root, cpus, populate, writable, replicas
        self.max_restarts = check_int(max_restarts, "max_restarts")
        if self.max_restarts < -1:
            raise ValueError(f"max_restarts must be -1 (no limit) or >= 0, got {max_restarts}")
        self.group = group


def start_actor(spec: ActorSpec, shard: int, replica: int) -> Any:
    """The handle of a new actor for ``replica`` of ``shard`` (not waited for). Replica 0 writes
    (Ray retries a call in flight when it dies: calls are idempotent); the others read, and a call
    in flight when one dies fails at once, so that the caller asks another replica."""
    bundle = shard * spec.replicas + replica
    strategy = PlacementGroupSchedulingStrategy(placement_group=spec.group, placement_group_bundle_index=bundle)
    writer = replica == 0 and spec.writable
    return _RemoteShard.options(num_cpus=spec.cpus, max_restarts=spec.max_restarts,
                                max_task_retries=TASK_RETRIES if replica == 0 else 0,
                                scheduling_strategy=strategy).remote(spec.root, shard, spec.cpus, spec.populate, writer)


def start_actors(spec: ActorSpec, num_shards: int, placement: str) -> List[List[Any]]:
    """Per shard, its actor handles (writer first); sets ``spec.group``; waits until every one
    has opened its shard, else stops them all and raises the first shard's own error."""
    check_choice(placement, PLACEMENTS, "placement")
    count = num_shards * spec.replicas
    _check_fits(count, spec.cpus)
    group = placement_group([{"CPU": spec.cpus}] * count, strategy=placement.upper())
    ready, _ = ray.wait([group.ready()], timeout=PLACEMENT_TIMEOUT_S)
    if not ready:  # it fits the cluster, but other work holds the CPUs
        remove_placement_group(group)
        raise RuntimeError(f"the cluster has not freed {count} x {spec.cpus:g} CPUs for the shards within "
                           f"{PLACEMENT_TIMEOUT_S:g} s: lower cpus_per_shard or stop other work")
    spec.group = group
    groups = [[start_actor(spec, s, r) for r in range(spec.replicas)] for s in range(num_shards)]
    actors = [a for g in groups for a in g]
    try:
        ray.get([actor.ping.remote() for actor in actors])
    except Exception as exc:
        stop_actors(actors, group)
        raise ray_error(exc, "open") from None
    return groups


def _check_fits(num_shards: int, cpus: float) -> None:
    """Fails at once where Ray would wait for ever: a shard larger than any node, or more CPUs than all."""
    nodes = [n.get("Resources", {}).get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
    if not nodes or cpus > max(nodes) + 1e-9 or num_shards * cpus > sum(nodes) + 1e-6:
        raise RuntimeError(f"the cluster cannot place {num_shards} shards of {cpus:g} CPUs each (its nodes "
                           f"have {', '.join(f'{c:g}' for c in nodes) or 'no'} CPUs): lower cpus_per_shard or add nodes")


def ray_error(exc: BaseException, what: str) -> BaseException:
    """The library's error for a Ray error met while asking shards to ``what``: a shard's own
    exception as itself (its ValueError, OSError), an actor that died as ShardUnavailableError
    (with Ray's error as the cause), anything else unchanged."""
    from .fanout import ShardUnavailableError, shard_error

    if isinstance(exc, ray.exceptions.RayTaskError):
        return shard_error(exc)
    if isinstance(exc, ray.exceptions.RayActorError):
        error = ShardUnavailableError(f"a shard actor died and could not {what} ({_first_line(exc)})")
        error.__cause__ = exc
        return error
    return exc


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else exc.__class__.__name__


def stop_actors(actors: List[Any], group: Any) -> None:
    for actor in actors:
        ray.kill(actor, no_restart=True)
    if group is not None:
        remove_placement_group(group)
