// ClusterScan queries: clusters visited in order of their lower bound
// max(0, d(q, c) - R_c) until it passes the k-th best distance, members
// verified only within the window |d(x, c) - d(q, c)| <= tau, then the tail.
#include <algorithm>
#include <atomic>
#include <numeric>
#include <type_traits>

#include "cluster_tables.hpp"
#include "cluster_visit.hpp"
#include "code_store.hpp"
#include "kernels.hpp"
#include "running_search.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace nash_index {
namespace {
using namespace cluster_visit;

constexpr size_t kQueriesPerTask = 8;  // queries of a batch per pool task
constexpr size_t kSampleQueries = 8;   // queries of a batch whose walks are estimated (ring_codes)
constexpr size_t kQueriesPerEstimate = 64;
// Smaller batches walk: the estimate would cost a share of them, and cluster by cluster pays from
// the queries that share each cluster's read.
constexpr size_t kMinClusterBatch = 32;
// A batch goes cluster by cluster when the sample's walks would verify more than 1/kHeavyShare of
// the clustered codes each: 10^7 codes around 10^4 centres with 20% flips verified 14% (cluster by
// cluster 3,100-3,575 q/s against 807 walking), with 10% flips under 1% (walking 88k q/s against
// 25k for an earlier form of the cluster pass).
constexpr uint64_t kHeavyShare = 32;

// Per-thread buffers of a walk (reused across calls: a lone query allocates nothing).
struct WalkBuffers {
  std::vector<dist_t> to_centre;
  std::vector<uint8_t> to_centre_u8;  // instead, for codes of at most 248 bits
  std::vector<uint32_t> order;
  std::vector<uint32_t> starts;
  std::vector<uint32_t> sorted;
  void reserve(size_t centres, int nbits, bool bytes) {
    if (bytes)
      to_centre_u8.resize((centres + 31) / 32 * 32);  // the byte kernel writes whole vectors
    else
      to_centre.resize(centres);
    order.resize(centres);
    starts.resize(size_t(nbits) + 2);  // zeroed by the counting sort that uses it
  }
};

WalkBuffers& buffers() {
  thread_local WalkBuffers b;
  return b;
}

// A range walk's result: tau is the radius.
struct RangeSink {
  dist_t radius;
  const CodeStore& store;
  std::vector<Neighbor> found;
  dist_t tau() const { return radius; }
  dist_t offer(dist_t d, size_t pos) {
    if (d <= radius) found.push_back({d, store.id_at(pos)});
    return radius;
  }
};

// Visits go a chunk at a time: the chunk's rings are found (their shell rows were prefetched a
// chunk before) and their first codes prefetched together, then verified. Most visits of a far
// cluster read one to three codes of its outer shell (10^7 codes, 10^4 centres, 10% flips: 42% of
// the visits one code, 24% two or three); one visit at a time, each waited for its row, then its
// codes.
constexpr size_t kChunk = 16;

// A far cluster's ring starts some 16 entries into its row (d(q, c) - tau): both of its first lines.
inline void prefetch_row(const ClusterScan::Clusters& cl, uint32_t c) {
  const uint32_t* row = cl.shell_row(c);
  __builtin_prefetch(row);
  __builtin_prefetch(row + 16);
}

// A lone query's walk is split between the pool's threads once it has verified kSplitCodes codes in
// its candidate clusters (those whose bound is within the tau its nearest cluster left) and goes on:
// walks of well separated clusters verify ~10^4 codes and never pay for the hand-off, even where
// they visit hundreds of clusters (10^7 codes around 10^4 centres, 10% flips: split after 256
// visits, 38k q/s instead of 45k). Only while fewer single queries run than the pool has threads
// (the flat scan's and MIH's rule): otherwise the cores already serve other callers. Each thread
// takes an interleaved share of the remaining candidates in bound order, so every share meets near
// and far clusters alike and stops at the same tau (two shares per thread ran ~7% slower).
constexpr uint64_t kSplitCodes = uint64_t{1} << 15;
std::atomic<int> g_running_walks{0};

// Candidate lists up to this long are sorted by comparison; longer ones (the bound pruned
// little: uniform codes, overlapping clusters) by counting.
constexpr size_t kSortedByComparison = 256;

inline dist_t* centre_distances(WalkBuffers& b, dist_t*) { return b.to_centre.data(); }
inline uint8_t* centre_distances(WalkBuffers& b, uint8_t*) { return b.to_centre_u8.data(); }

// Every walk's start, and its estimate's (ring_codes): distances to every centre into the thread's
// buffers, the nearest centre's cluster visited, then the other clusters whose bound is within the
// tau it left written to the buffers' order; returns how many.
template <class Dist, class Sink>
size_t nearest_then_candidates(const KernelTable& kt, const ClusterScan::Clusters& cl, const uint8_t* query,
                               int nbits, Sink& sink, uint64_t& verified) {
  WalkBuffers& b = buffers();
  b.reserve(cl.count, nbits, std::is_same<Dist, uint8_t>::value);
  Dist* dq = centre_distances(b, static_cast<Dist*>(nullptr));
  size_t nearest = 0;
  const dist_t least = all_centres(kt, query, cl, dq, &nearest);
  visit(kt, cl, query, uint32_t(nearest), least, sink, verified);
  uint32_t* order = b.order.data();
  const size_t m = within(kt, dq, radii(cl, static_cast<Dist*>(nullptr)), cl.count, sink.tau(), order);
  return size_t(std::remove(order, order + m, uint32_t(nearest)) - order);
}

// The cluster of the nearest centre first: its members usually hold the query's neighbours, so
// tau is tight before any other cluster is looked at. Then only the clusters whose lower bound
// max(0, d(q, c) - R_c) is within that tau can still hold a result (tau only falls): they are
// visited in order of their bound until it passes the tau of the moment. Sorting just those
// few, not every cluster, is most of the gain over ordering all K (issue #25, exact vs IVF).
template <class Dist, class Sink>
void walk_clusters(const KernelTable& kt, const ClusterScan::Clusters& cl, const uint8_t* query, int nbits,
                   Sink& sink, int split, uint64_t& visited, uint64_t& verified) {
  const size_t m = nearest_then_candidates<Dist>(kt, cl, query, nbits, sink, verified);  // order[0, m)
  ++visited;
  WalkBuffers& b = buffers();
  const Dist* dq_of = centre_distances(b, static_cast<Dist*>(nullptr));  // locals: no thread_local reloads in loops
  const Dist* radius = radii(cl, static_cast<Dist*>(nullptr));
  uint32_t* order = b.order.data();
  auto bound = [&](uint32_t c) { return std::max(dist_t(dq_of[c]) - dist_t(radius[c]), 0); };
  if (m <= kSortedByComparison) {
    std::sort(order, order + m, [&](uint32_t x, uint32_t y) { return bound(x) < bound(y); });
  } else {
    std::vector<uint32_t>& starts = b.starts;
    std::fill(starts.begin(), starts.end(), 0u);
    for (size_t i = 0; i < m; ++i) ++starts[size_t(bound(order[i])) + 1];
    std::partial_sum(starts.begin(), starts.end(), starts.begin());
    b.sorted.resize(m);
    for (size_t i = 0; i < m; ++i) b.sorted[starts[size_t(bound(order[i]))]++] = order[i];
    std::copy_n(b.sorted.data(), m, order);
  }
  // Candidates i = first, first + stride, ... below last in bound order, until a bound passes tau
  // (returns m) or `pause` says so at a chunk's start (returns the next candidate's index).
  auto visit_from = [&](auto& to, size_t first, size_t last, size_t stride, uint64_t& visits, uint64_t& codes,
                        auto pause) {
    uint32_t ring_of[kChunk];
    size_t from[kChunk], to_end[kChunk];
    for (size_t i = first; i < last;) {
      if (pause(i, codes)) return i;
      const dist_t tau = to.tau();
      size_t rings = 0;
      bool passed = false;
      for (size_t j = 0; j < kChunk && i < last; ++j, i += stride) {
        const uint32_t c = order[i];
        if (bound(c) > tau) {  // every later cluster's bound is at least this one's
          passed = true;
          break;
        }
        if (i + kChunk * stride < last) prefetch_row(cl, order[i + kChunk * stride]);
        ++visits;
        const dist_t dq = dist_t(dq_of[c]);
        cl.ring(c, int64_t(dq) - tau, int64_t(dq) + tau, from[rings], to_end[rings]);
        if (from[rings] == to_end[rings]) continue;
        const uint8_t* ring = cl.codes.data() + from[rings] * cl.code_size;
        __builtin_prefetch(ring);
        __builtin_prefetch(ring + 64);
        ring_of[rings++] = c;
      }
      for (size_t r = 0; r < rings; ++r) {  // tau may fall meanwhile: the rings found at the chunk's tau hold those within it
        if (bound(ring_of[r]) > to.tau()) return m;
        verify_members(kt, cl, query, from[r], to_end[r], to, codes);
      }
      if (passed) return m;
    }
    return m;
  };
  constexpr bool knn = std::is_same<Sink, TopSink>::value;  // only a k-NN walk splits
  const uint64_t before = verified;
  auto long_walk = [&](size_t, uint64_t codes) { return knn && split > 1 && codes - before >= kSplitCodes; };
  const size_t alone = visit_from(sink, 0, m, 1, visited, verified, long_walk);
  if constexpr (knn) {  // thread p takes candidates alone + p + split * j
    if (alone == m) return;
    SharedTop shared(std::move(sink.top));
    std::atomic<dist_t> tau(shared.top.threshold());
    SharedSink to{shared, tau, sink.store};
    std::vector<uint64_t> visits(size_t(split), 0), codes(size_t(split), 0);
    auto never = [](size_t, uint64_t) { return false; };
    ThreadPool::global().parallel_for(size_t(split), split, [&](size_t p) {
      visit_from(to, alone + p, m, size_t(split), visits[p], codes[p], never);
    });
    sink.top = std::move(shared.top);
    for (size_t p = 0; p < size_t(split); ++p) {
      visited += visits[p];
      verified += codes[p];
    }
  }
}

// Codes a walk of `query` would verify at most: the nearest cluster's, then the rings (at the tau
// that cluster leaves) of every cluster whose bound is within it. Reads one cluster's codes and
// the ring tables only: a batch's way is chosen from a few of these, not from walks (8 walks had
// cost ~8% of a batch of 300 where each verified ~15% of 10^7 codes).
template <class Dist>
uint64_t ring_codes(const KernelTable& kt, const ClusterScan::Clusters& cl, const CodeStore& store,
                    const uint8_t* query, size_t k, int nbits) {
  TopSink sink(k, store);
  uint64_t verified = 0;
  const size_t m = nearest_then_candidates<Dist>(kt, cl, query, nbits, sink, verified);
  WalkBuffers& b = buffers();
  const Dist* dq = centre_distances(b, static_cast<Dist*>(nullptr));
  const dist_t tau = sink.tau();
  for (size_t i = 0; i < m; ++i) {
    const uint32_t c = b.order[i];
    size_t first = 0, last = 0;
    cl.ring(c, int64_t(dq[c]) - tau, int64_t(dq[c]) + tau, first, last);
    verified += last - first;
  }
  return verified;
}

// A probe walk's result (visited_share): ties by store position, no ids needed.
struct ProbeSink {
  TopK top;
  ProbeSink(size_t k, int nbits) : top(k, nbits) {}
  dist_t tau() const { return top.threshold(); }
  dist_t offer(dist_t d, size_t pos) { return top.offer(d, idx_t(pos), false); }
};

}  // namespace

ProbeWork probe_walks(const ClusterScan::Clusters& cl, const uint8_t* codes, size_t n, int nbits, size_t probes,
                      size_t k) {
  const size_t walks = std::min(probes, n), cs = size_t(nbits) / 8;
  if (walks == 0 || cl.count == 0) return {};
  const KernelTable& kt = kernels();
  const bool bytes = byte_distances(kt, cl);
  uint64_t visited = 0, verified = 0;
  for (size_t i = 0; i < walks; ++i) {
    const uint8_t* query = codes + (i * n / walks) * cs;
    ProbeSink sink(k, nbits);
    if (bytes)
      walk_clusters<uint8_t>(kt, cl, query, nbits, sink, 1, visited, verified);
    else
      walk_clusters<dist_t>(kt, cl, query, nbits, sink, 1, visited, verified);
  }
  return {double(visited) / double(walks), double(verified) / double(walks)};
}

// Clusters first (walk_clusters), then the tail of codes added since the build.
template <class Sink>
void ClusterScan::walk(const uint8_t* query, Sink& sink, SearchWork* work, int split) const {
  const KernelTable& kt = kernels();
  const size_t cs = code_size();
  uint64_t verified = 0, visited = 0;
  if (clusters_ && clusters_->count > 0) {
    // Bytes where the codes allow them and the level has the vector kernels for them.
    if (byte_distances(kt, *clusters_))
      walk_clusters<uint8_t>(kt, *clusters_, query, nbits(), sink, split, visited, verified);
    else
      walk_clusters<dist_t>(kt, *clusters_, query, nbits(), sink, split, visited, verified);
  }
  const size_t n = store_->size(), from = indexed_;
  verify(kt, query, store_->codes() + from * cs, n - from, cs, sink, sink.tau(), [from](size_t j) { return from + j; });
  verified += n - from;
  if (work) *work = SearchWork{visited, verified, false};
}

// A batch first estimates, for a sample of its queries, how many codes their walks would verify
// (ring_codes). Where that is many (the bound prunes little: clusters about as close as their
// radii, or uniform codes) the batch goes cluster by cluster (cluster_batch.cpp), which reads each
// cluster once for all its queries; where it is few (well separated clusters) each query walks,
// visiting a few clusters and stopping (10^7 codes around 10^3 centres, 10% flips: 192k q/s
// walking against 69k).
void ClusterScan::search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
                         int num_threads, SearchWork* work) const {
  const size_t cs = code_size();
  auto one = [&](size_t q, int split) {
    TopSink sink(k, *store_);
    walk(queries + q * cs, sink, work ? work + q : nullptr, split);
    sink.top.finish_into(distances + q * k, ids + q * k);
  };
  if (nq == 1) {
    const RunningSearch running(g_running_walks);
    const int threads = resolve_threads(num_threads);
    return one(0, running.running < threads ? threads : 1);
  }
  if (nq >= kMinClusterBatch && clusters_ && clusters_->count > 0 && walks_verify_many(queries, nq, k))
    return search_by_cluster(queries, nq, k, distances, ids, num_threads, work);
  const size_t tasks = (nq + kQueriesPerTask - 1) / kQueriesPerTask;
  ThreadPool::global().parallel_for(tasks, resolve_threads(num_threads), [&](size_t t) {
    for (size_t q = t * kQueriesPerTask; q < std::min(nq, (t + 1) * kQueriesPerTask); ++q) one(q, 1);
  });
}

bool ClusterScan::walks_verify_many(const uint8_t* queries, size_t nq, size_t k) const {
  const KernelTable& kt = kernels();
  // One estimate per kQueriesPerEstimate queries (up to kSampleQueries): they run on the calling
  // thread, and cost about a walk each where the walks are short.
  const size_t sample = std::clamp<size_t>(nq / kQueriesPerEstimate, 1, kSampleQueries), cs = code_size();
  const bool bytes = byte_distances(kt, *clusters_);
  uint64_t codes = 0;
  for (size_t i = 0; i < sample; ++i) {
    const uint8_t* query = queries + (i * nq / sample) * cs;  // spread over the batch
    codes += bytes ? ring_codes<uint8_t>(kt, *clusters_, *store_, query, k, nbits())
                   : ring_codes<dist_t>(kt, *clusters_, *store_, query, k, nbits());
  }
  return codes * kHeavyShare >= uint64_t(sample) * std::max<size_t>(indexed_, 1);
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
