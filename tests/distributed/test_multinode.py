"""A simulated multi-node cluster on one machine (ray.cluster_utils.Cluster): shards spread over
the logical nodes, answers stay exact, and a shard survives the loss of its node."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import clustered_codes

ray = pytest.importorskip("ray", reason="nash_index[distributed] (Ray) is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

from nash_index.distributed import ShardedIndex  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()  # the session's local cluster: ray_local starts it again when next asked
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def test_shards_spread_over_nodes_and_stay_exact(cluster, tmp_path):
    rng = np.random.default_rng(0)
    codes = clustered_codes(rng, 3000, 64, centres=10, p=0.05)
    flat = ni.FlatIndex(64)
    flat.add(codes)
    with ShardedIndex.create(tmp_path / "m", 64, 3, kind=["flat", "mih", "flat"], placement="spread") as index:
        assert index.cpus_per_shard == 1.0
        index.add(codes)
        nodes = [i["node_id"] for i in index.info()]
        assert len(set(nodes)) == 3  # one shard per node
        for k in (1, 10, 100):
            got, want = index.search(codes[::61], k), flat.search(codes[::61], k)
            np.testing.assert_array_equal(got.ids, want.ids)
            np.testing.assert_array_equal(got.distances, want.distances)


def test_pack_places_shards_together(cluster, tmp_path):
    with ShardedIndex.create(tmp_path / "p", 64, 2, placement="pack", cpus_per_shard=0.5) as index:
        assert len({i["node_id"] for i in index.info()}) == 1
    with pytest.raises(RuntimeError, match="cannot place"):
        ShardedIndex.open(tmp_path / "p", cpus_per_shard=2, placement="pack")
