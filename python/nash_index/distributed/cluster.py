"""Connecting to Ray and placing the shard actors: one actor per shard, one placement-group bundle each."""
from __future__ import annotations

import math
import os
from typing import Any, List, Optional, Tuple

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from ..index.validation import check_choice, check_int
from .actor import ShardActor

__all__ = ["PLACEMENTS", "check_cpus", "connect", "start_actors", "stop_actors"]

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


def check_cpus(cpus_per_shard: Any, num_shards: int) -> float:
    """CPUs reserved per shard actor; None: the cluster's CPUs shared evenly among the shards."""
    if cpus_per_shard is None:
        total = float(ray.cluster_resources().get("CPU", 1.0))
        return max(math.floor(total / num_shards * 1e4) / 1e4, 0.0001)  # Ray counts CPUs to 1e-4
    if isinstance(cpus_per_shard, bool) or not isinstance(cpus_per_shard, (int, float)) or not cpus_per_shard > 0:
        raise ValueError(f"cpus_per_shard must be a positive number of CPUs, got {cpus_per_shard!r}")
    return float(cpus_per_shard)


def start_actors(root: str, num_shards: int, cpus: float, placement: str, max_restarts: Any,
                 populate: bool = False) -> Tuple[List[Any], Any]:
    """(actor handles in shard order, placement group); waits until every shard has opened."""
    check_choice(placement, PLACEMENTS, "placement")
    max_restarts = check_int(max_restarts, "max_restarts")
    if max_restarts < -1:
        raise ValueError(f"max_restarts must be -1 (no limit) or >= 0, got {max_restarts}")
    _check_fits(num_shards, cpus)
    group = placement_group([{"CPU": cpus}] * num_shards, strategy=placement.upper())
    ready, _ = ray.wait([group.ready()], timeout=PLACEMENT_TIMEOUT_S)
    if not ready:  # it fits the cluster, but other work holds the CPUs
        remove_placement_group(group)
        raise RuntimeError(f"the cluster has not freed {num_shards} x {cpus:g} CPUs for the shards within "
                           f"{PLACEMENT_TIMEOUT_S:g} s: lower cpus_per_shard or stop other work")
    actors = []
    for shard in range(num_shards):
        strategy = PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=shard)
        actors.append(_RemoteShard.options(num_cpus=cpus, max_restarts=max_restarts, max_task_retries=TASK_RETRIES,
                                           scheduling_strategy=strategy).remote(root, shard, cpus, populate))
    try:
        ray.get([actor.ping.remote() for actor in actors])
    except Exception:
        stop_actors(actors, group)
        raise
    return actors, group


def _check_fits(num_shards: int, cpus: float) -> None:
    """Fails at once where Ray would wait for ever: a shard larger than any node, or more CPUs than all."""
    nodes = [n.get("Resources", {}).get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
    if not nodes or cpus > max(nodes) + 1e-9 or num_shards * cpus > sum(nodes) + 1e-6:
        raise RuntimeError(f"the cluster cannot place {num_shards} shards of {cpus:g} CPUs each (its nodes "
                           f"have {', '.join(f'{c:g}' for c in nodes) or 'no'} CPUs): lower cpus_per_shard or add nodes")


def stop_actors(actors: List[Any], group: Any) -> None:
    for actor in actors:
        ray.kill(actor, no_restart=True)
    if group is not None:
        remove_placement_group(group)
