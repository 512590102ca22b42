"""Exact Hamming search by a cluster-pruned scan (kind ``"cluster"``).

The codes are grouped around centres; each cluster keeps its members contiguously, sorted by their
distance to the centre. By the triangle inequality ``d(q, x) >= |d(q, c) - d(x, c)|``, a query
visits clusters in order of that lower bound, stops at the first one that cannot beat its k-th
best distance, and inside a visited cluster verifies only the members whose distance to the
centre lies within that k-th distance of its own. Results are identical to
:class:`nash_index.FlatIndex` (same distances, same ids under the (distance, id) tie rule); the
clustering only decides how much is skipped.
"""
from __future__ import annotations

from typing import Any, Optional

from . import _core
from .base import CoreIndex, register_kind
from .validation import as_code_rows, check_count, check_nbits

__all__ = ["ClusterScanIndex"]

#: ClusterScan keeps uint32 cluster counts (``clusters`` beyond this is refused).
MAX_CLUSTERS = 2**31 - 1


@register_kind("cluster")
class ClusterScanIndex(CoreIndex):
    """Exact k-NN and range search over clustered codes by a cluster-pruned scan.

    Where it pays: codes in well separated clusters (the shape approximate indexes such as faiss's
    ``IndexBinaryIVF`` are built for). A query reads every centre (by default about twice as many
    as the groups the codes form, or sqrt(n) where those groups are loose or outnumber the clusters
    allowed: see :meth:`auto_clusters`; :attr:`clusters` gives the count in use), visits the
    nearest centre's cluster first and then only the clusters its bound cannot rule out. Measured
    (``bench/bench_exact_vs_approx.py``, ``bench/results/exact_vs_approx*.md``, 2 shared cores,
    faiss in the same run at its best of 1 / 2 threads): 200k 64-bit codes around 1,000 centres with
    10% of bits flipped, exact 10-NN single queries 4.2x :class:`~nash_index.MultiIndexHashing`,
    1.95x faiss IVF and 7.7x faiss HNSW at recall 0.95 (batches: 1.50x IVF, 9.3x HNSW). 10^7 codes
    (``bench/results/exact_vs_approx_10M.md``, the automatic count, an Intel Xeon with AVX-512,
    medians of 3 rounds timing every index in turn): around 1,000 centres with 10% flips, 118k q/s
    single and 247k batched, 3.34x / 3.92x IVF; around 10,000 centres with 5% flips 4.43x / 5.76x;
    with 10% flips 1.19x / 1.34x (72k / 129k q/s: IVF reads one list at recall 0.979, an exact walk
    reads ~22,000 centres and visits ~144 clusters, most for one to three codes of their outer
    shell, a chunk of 16 visits' reads in flight at once). Around 10,000 centres with 20% flips
    (clusters ~17 bits apart) the radii reach the gaps between clusters and the bound prunes
    little: a query verifies ~40% of the codes, at ~2.5 * 10^9 codes a second a thread. A batch of
    32 or more whose sampled walks would verify over 1/32 of the codes each then goes cluster by
    cluster, reading each cluster once for all the queries that need it, and a lone query's walk
    splits its clusters between the pool's threads once it has verified 2^15 codes: there, with
    sqrt(n) = 3,162 clusters (the automatic count), 3,934 q/s in batches of 300 and 1,250 single
    against faiss IVF's 3,023 and 1,226 (1.30x / 1.02x: at parity single, 0.91-1.06x over the
    rounds; MIH 2,534 / 643); following the groups there gave 57,636 clusters, built in 152 s, 490
    and 2,551 q/s (``bench/results/cluster_count.md``). faiss HNSW (M 32) on that shape needed
    efSearch 1,152 for recall 0.953 and ran 101 single / 214 batched q/s after a 1,909 s build:
    the exact scan ran 13x / 20x that (``bench/results/exact_vs_approx_10M_hnsw.md``).
    On uniform codes it costs a scan of every code plus the centres. ``make_index(kind="auto")``
    never picks it: ask for it by name.

    ``clusters`` (None: automatic, :meth:`auto_clusters` at each build) sets the number of
    centres. The clusters are built when codes are added (the leaders of a sample as centres,
    more seeded among the codes they leave far, one majority vote, nearest-centre assignment by
    substring probes, then by a scan of every centre for the codes those left far), rebuilt once
    codes added since pass 1/16 of them (until then those are scanned) or removals pass 1/4; a
    removal keeps the clusters (their radii stay upper bounds). Files hold the codes and the
    setting; ``load`` rebuilds the clusters (deterministically).
    """

    def __init__(self, nbits: int, clusters: Optional[int] = None) -> None:
        nbits = check_nbits(nbits)
        count = 0 if clusters is None else check_count(clusters, "clusters")
        if count > MAX_CLUSTERS:
            raise ValueError(f"clusters must be at most {MAX_CLUSTERS}, got {count}")
        self._impl = _core.create_index(self._kind, nbits, {"clusters": count})

    @property
    def clusters(self) -> int:
        """Clusters in use: the count of the last build (0 before the first one)."""
        return int(self._impl.clusters)

    @staticmethod
    def auto_clusters(codes: Any) -> int:
        """The cluster count that ``clusters=None`` picks for these codes (uint8, (n, code_size)).

        A sample of 65,536 codes is grouped at radius nbits / 4 (each sampled code farther than
        that from every group's first code starts a group). Where the groups are tight (at least 3
        in 10 of the sampled codes that join one lie within nbits / 4 - 0.4 sqrt(nbits) of its
        first code: 12 bits of 64, 27 of 128), twice their number: about the number of clusters
        the data has, not the number of codes. Where they are loose (clusters as wide as the radius
        or wider, clusters that overlap, uniform codes), the groups pile up with the sample, not
        with the data, and the count is sqrt(n). At most n / 64 and 2^17, at least 1. Where tight
        groups ask for more clusters than sqrt(n), their clusters are built and probed by 10-NN
        walks of 32 of the codes; where those visit over 1/16 of the clusters, sqrt(n)'s clusters
        are built and probed too, and the count with the cheaper walks (centres read, clusters
        visited, codes verified) wins: groups that outnumber the clusters allowed leave clusters
        that mix groups, and the bound prunes little. So this may cost up to two builds. Measured
        with ``bench/bench_cluster_count.py`` (``bench/results/cluster_count*.md``), including
        where neither choice is right.
        """
        rows = as_code_rows(codes, None, "codes")
        return int(_core.cluster_auto_choice(rows, rows.shape[1])["count"])

    def __repr__(self) -> str:
        return f"ClusterScanIndex(nbits={self.nbits}, ntotal={self.ntotal})"
