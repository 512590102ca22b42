// ClusterScan queries: clusters visited in order of their lower bound
// max(0, d(q, c) - R_c) until it passes the k-th best distance, members
// verified only within the window |d(x, c) - d(q, c)| <= tau, then the tail.
#include <algorithm>
#include <numeric>

#include "cluster_tables.hpp"
#include "code_store.hpp"
#include "kernels.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace nash_index {
namespace {

constexpr size_t kTailChunk = 4096;   // tail codes verified per gather
constexpr size_t kQueriesPerTask = 8;  // queries of a batch per pool task

// Per-thread buffers of a walk (reused across calls: a lone query allocates nothing).
struct WalkBuffers {
  std::vector<uint32_t> iota;
  std::vector<dist_t> to_centre, distances;
  std::vector<uint32_t> order;
  std::vector<uint32_t> starts;
  void reserve(size_t centres, size_t block, int nbits) {
    const size_t need = std::max(centres, block);
    if (iota.size() < need) {
      iota.resize(need);
      std::iota(iota.begin(), iota.end(), 0u);
      distances.resize(need);
    }
    to_centre.resize(centres);
    order.resize(centres);
    starts.assign(size_t(nbits) + 2, 0);
  }
};

WalkBuffers& buffers() {
  thread_local WalkBuffers b;
  return b;
}

// A k-NN walk's result: tau is the k-th best distance so far.
struct TopSink {
  TopK top;
  const CodeStore& store;
  TopSink(size_t k, const CodeStore& s) : top(k, s.nbits()), store(s) {}
  dist_t tau() { return top.kth_distance(); }
  void offer(dist_t d, size_t pos) { top.offer(d, store.id_at(pos), false); }
};

// A range walk's result: tau is the radius.
struct RangeSink {
  dist_t radius;
  const CodeStore& store;
  std::vector<Neighbor> found;
  dist_t tau() const { return radius; }
  void offer(dist_t d, size_t pos) {
    if (d <= radius) found.push_back({d, store.id_at(pos)});
  }
};

}  // namespace

template <class Sink>
void ClusterScan::walk(const uint8_t* query, Sink& sink, SearchWork* work) const {
  const KernelTable& kt = kernels();
  const size_t cs = code_size();
  WalkBuffers& b = buffers();
  uint64_t verified = 0, visited = 0;
  if (clusters_ && clusters_->count > 0) {
    const Clusters& cl = *clusters_;
    const size_t k = cl.count;
    b.reserve(k, std::max(cl.largest, kTailChunk), nbits());
    kt.gather_distances(GatherBlock{query, cl.centres.data(), b.iota.data(), k, cs, b.to_centre.data()});
    // Counting sort of the clusters by lower bound.
    for (size_t c = 0; c < k; ++c) ++b.starts[size_t(std::max(b.to_centre[c] - cl.radius[c], 0)) + 1];
    std::partial_sum(b.starts.begin(), b.starts.end(), b.starts.begin());
    for (size_t c = 0; c < k; ++c) b.order[b.starts[size_t(std::max(b.to_centre[c] - cl.radius[c], 0))]++] = uint32_t(c);
    for (size_t i = 0; i < k; ++i) {
      const uint32_t c = b.order[i];
      const dist_t dq = b.to_centre[c], tau = sink.tau();
      if (dq - cl.radius[c] > tau) break;  // every later cluster's bound is at least this one's
      const uint16_t* d0 = cl.to_centre.data();
      const size_t first = size_t(std::lower_bound(d0 + cl.begin[c], d0 + cl.begin[c + 1], std::max(dq - tau, 0)) - d0);
      const size_t last = size_t(std::upper_bound(d0 + first, d0 + cl.begin[c + 1], dq + tau) - d0);
      ++visited;
      if (first == last) continue;
      kt.gather_distances(
          GatherBlock{query, cl.codes.data() + first * cs, b.iota.data(), last - first, cs, b.distances.data()});
      verified += last - first;
      for (size_t j = 0; j < last - first; ++j)
        if (b.distances[j] <= tau) sink.offer(b.distances[j], cl.positions[first + j]);
    }
  } else {
    b.reserve(0, kTailChunk, nbits());
  }
  const size_t n = store_->size();
  for (size_t from = indexed_; from < n; from += kTailChunk) {
    const size_t count = std::min(kTailChunk, n - from);
    kt.gather_distances(GatherBlock{query, store_->codes() + from * cs, b.iota.data(), count, cs, b.distances.data()});
    verified += count;
    const dist_t tau = sink.tau();
    for (size_t j = 0; j < count; ++j)
      if (b.distances[j] <= tau) sink.offer(b.distances[j], from + j);
  }
  if (work) *work = SearchWork{visited, verified, false};
}

void ClusterScan::search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
                         int num_threads, SearchWork* work) const {
  const size_t cs = code_size();
  auto one = [&](size_t q) {
    TopSink sink(k, *store_);
    walk(queries + q * cs, sink, work ? work + q : nullptr);
    sink.top.finish_into(distances + q * k, ids + q * k);
  };
  if (nq == 1) return one(0);
  const size_t tasks = (nq + kQueriesPerTask - 1) / kQueriesPerTask;
  ThreadPool::global().parallel_for(tasks, resolve_threads(num_threads), [&](size_t t) {
    for (size_t q = t * kQueriesPerTask; q < std::min(nq, (t + 1) * kQueriesPerTask); ++q) one(q);
  });
}

RangeResult ClusterScan::range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                                      SearchWork* work) const {
  const size_t cs = code_size();
  std::vector<std::vector<Neighbor>> found(nq);
  ThreadPool::global().parallel_for(nq, nq == 1 ? 1 : resolve_threads(num_threads), [&](size_t q) {
    RangeSink sink{radius, *store_, {}};
    walk(queries + q * cs, sink, work ? work + q : nullptr);
    std::sort(sink.found.begin(), sink.found.end());
    found[q] = std::move(sink.found);
  });
  RangeResult out;
  out.lims.assign(1, 0);
  for (const auto& list : found) {
    for (const Neighbor& nb : list) {
      out.distances.push_back(nb.distance);
      out.ids.push_back(nb.id);
    }
    out.lims.push_back(out.ids.size());
  }
  return out;
}

}  // namespace nash_index
