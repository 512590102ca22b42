// ClusterScan batches, cluster by cluster. Query by query, every visit of a cluster reads its ring
// from memory: where the bound prunes little (10^4 centres ~17 bits apart, 20% of bits flipped)
// a query verifies ~10^6 codes in ~10^4 rings of a few lines each and runs at the latency of
// those scattered reads. A batch instead
//  1. takes each query's distances to every centre and visits its nearest clusters and the tail
//     (its k-th distance tau is then near its final value);
//  2. walks the clusters in memory order, a chunk the size of L2 at a time, and scans each once
//     for all the queries of the group whose bound max(0, d(q, c) - R_c) is within their tau
//     (PartPass): a chunk's codes come from memory once for the whole group.
// Each query keeps one top-k that every thread offers to under a lock (hits are rare: codes within
// tau), so its tau is the k-th distance over everything verified so far, whichever thread found it.
// The same rings are verified as by the walk or more (tau never falls below the k-th distance), so
// results are identical, ties by id included.
#include <algorithm>
#include <cstdint>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "cluster_tables.hpp"
#include "cluster_visit.hpp"
#include "code_store.hpp"
#include "kernels.hpp"
#include "nash_index/cluster_scan.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace nash_index {
namespace {
using namespace cluster_visit;

// Codes of the clusters a chunk holds: they stay in L2 while every query of the group visits them.
constexpr size_t kChunkCodeBytes = size_t{256} << 10;
// Centre distances held at once (group queries x K): bounds the batch's memory.
constexpr size_t kGroupBytes = size_t{32} << 20;
constexpr size_t kPartsPerThread = 2;  // a thread the OS delays holds up half its share, not all of it
constexpr size_t kQueriesPerTask = 8;
// Clusters each query visits before the cluster pass: 1 / 8 / 32 ran 3,214 / 3,265 / 3,142 q/s
// (10^7 codes, 10^4 centres, 20% flips, 300 queries).
constexpr size_t kFirstVisits = 8;
// A scan's set-up in pair tests: a ring joins a band when the wider scan costs less than this more.
constexpr size_t kScanSetup = 64;

// Clusters [begin[p], begin[p + 1]) of part p: about equal numbers of codes.
std::vector<size_t> split_by_codes(const ClusterScan::Clusters& cl, size_t parts) {
  std::vector<size_t> bounds{0};
  const size_t total = cl.members();
  for (size_t c = 0; c < cl.count && bounds.size() < parts; ++c)
    if (cl.begin[c + 1] * parts >= total * bounds.size()) bounds.push_back(c + 1);
  if (bounds.back() != cl.count) bounds.push_back(cl.count);
  return bounds;
}

template <class Dist>
class ClusterMajor {
 public:
  ClusterMajor(const ClusterScan::Clusters& cl, const CodeStore& store, size_t indexed, size_t k, int threads)
      : cl_(cl), store_(store), indexed_(indexed), k_(k), threads_(threads), kt_(kernels()),
        stride_((cl.count + 31) / 32 * 32), radius_(radii(cl, static_cast<Dist*>(nullptr))) {}

  // Queries [0, nq) of `queries`, results into distances / ids (nq x k).
  void run(const uint8_t* queries, size_t nq, dist_t* distances, idx_t* ids, SearchWork* work) {
    const size_t cs = cl_.code_size;
    const size_t group = std::max<size_t>(1, kGroupBytes / (stride_ * sizeof(Dist)));
    for (size_t q0 = 0; q0 < nq; q0 += group) {
      const size_t n = std::min(group, nq - q0);
      first_pass(queries + q0 * cs, n);
      cluster_pass(queries + q0 * cs, n);
      finish(n, distances + q0 * k_, ids + q0 * k_, work ? work + q0 : nullptr);
    }
  }

 private:
  class PartPass;

  // Step 1: centre distances, the nearest clusters and the tail, per query.
  void first_pass(const uint8_t* queries, size_t nq) {
    const size_t cs = cl_.code_size, n = store_.size();
    dq_.resize(nq * stride_);
    visited_.resize(nq * kFirstVisits);
    visited_count_.resize(nq);
    tau_.reset(new std::atomic<dist_t>[nq]);
    tops_.clear();
    for (size_t q = 0; q < nq; ++q) tops_.push_back(std::make_unique<SharedTop>(k_, store_.nbits()));
    work_.assign(nq, SearchWork{});
    const size_t tasks = (nq + kQueriesPerTask - 1) / kQueriesPerTask;
    ThreadPool::global().parallel_for(tasks, threads_, [&](size_t t) {
      for (size_t q = t * kQueriesPerTask; q < std::min(nq, (t + 1) * kQueriesPerTask); ++q) {
        const uint8_t* query = queries + q * cs;
        Dist* dq = dq_.data() + q * stride_;
        tau_[q].store(tops_[q]->top.threshold(), std::memory_order_relaxed);
        SharedSink sink{*tops_[q], tau_[q], store_};
        all_centres(kt_, query, cl_, dq, nullptr);
        uint64_t verified = 0;
        const size_t count = visit_nearest(query, dq, sink, verified, visited_.data() + q * kFirstVisits);
        visited_count_[q] = uint8_t(count);
        const size_t from = indexed_;
        verify(kt_, query, store_.codes() + from * cs, n - from, cs, sink, sink.tau(),
               [from](size_t j) { return from + j; });
        work_[q] = SearchWork{count, verified + (n - from), false};
      }
    });
  }

  // Visits the kFirstVisits clusters of least bound (the first of them holds the nearest centre),
  // so that tau is lower before the cluster pass, which prunes with it (each bit of tau widens
  // every far cluster's ring). Writes them ascending to `visited` and returns how many.
  size_t visit_nearest(const uint8_t* query, const Dist* dq, SharedSink& sink, uint64_t& verified,
                       uint32_t* visited) const {
    thread_local std::vector<uint32_t> candidates;
    candidates.resize(stride_);
    const size_t m = within(kt_, dq, radius_, cl_.count, sink.tau(), candidates.data());
    auto bound = [&](uint32_t c) { return std::max(dist_t(dq[c]) - dist_t(radius_[c]), 0); };
    auto before = [&](uint32_t x, uint32_t y) { return bound(x) != bound(y) ? bound(x) < bound(y) : dq[x] < dq[y]; };
    size_t count = std::min(m, kFirstVisits);
    std::partial_sort(candidates.begin(), candidates.begin() + count, candidates.begin() + m, before);
    for (size_t i = 0; i < count; ++i) {
      if (bound(candidates[i]) > sink.tau()) {
        count = i;
        break;
      }
      visit(kt_, cl_, query, candidates[i], dist_t(dq[candidates[i]]), sink, verified);
    }
    std::copy_n(candidates.begin(), count, visited);
    std::sort(visited, visited + count);
    return count;
  }

  bool visited_first(size_t q, uint32_t c) const {
    const uint32_t* visited = visited_.data() + q * kFirstVisits;
    return std::binary_search(visited, visited + visited_count_[q], c);
  }

  dist_t tau(size_t q) const { return tau_[q].load(std::memory_order_relaxed); }
  dist_t offer(size_t q, dist_t d, size_t pos) const { return tops_[q]->offer(d, store_.id_at(pos), tau_[q]); }

  // Step 2: each part's clusters, chunk by chunk (PartPass).
  void cluster_pass(const uint8_t* queries, size_t nq) {
    const std::vector<size_t> bounds = split_by_codes(cl_, size_t(threads_) * kPartsPerThread);
    const size_t parts = bounds.size() - 1;
    part_work_.assign(parts, std::vector<SearchWork>(nq));
    ThreadPool::global().parallel_for(parts, threads_, [&](size_t p) {
      PartPass pass(*this, queries, nq, part_work_[p]);
      size_t c0 = bounds[p];
      while (c0 < bounds[p + 1]) {
        size_t c1 = c0 + 1;  // at least one cluster, then up to kChunkCodeBytes of codes
        while (c1 < bounds[p + 1] && (cl_.begin[c1 + 1] - cl_.begin[c0]) * cl_.code_size <= kChunkCodeBytes) ++c1;
        pass.chunk(c0, c1);
        c0 = c1;
      }
    });
  }

  // Step 3: the results and the work of each query.
  void finish(size_t nq, dist_t* distances, idx_t* ids, SearchWork* work) {
    for (size_t q = 0; q < nq; ++q) {
      tops_[q]->top.finish_into(distances + q * k_, ids + q * k_);
      if (!work) continue;
      work[q] = work_[q];
      for (const std::vector<SearchWork>& part : part_work_) {
        work[q].probes += part[q].probes;
        work[q].candidates += part[q].candidates;
      }
    }
  }

  const ClusterScan::Clusters& cl_;
  const CodeStore& store_;
  size_t indexed_, k_;
  int threads_;
  const KernelTable& kt_;
  size_t stride_;
  const Dist* radius_;
  std::vector<Dist> dq_;                          // group queries x stride_: distances to every centre
  std::vector<uint32_t> visited_;                 // query x kFirstVisits: clusters of the first pass, ascending
  std::vector<uint8_t> visited_count_;
  std::unique_ptr<std::atomic<dist_t>[]> tau_;    // each query's tau (its top's threshold)
  std::vector<std::unique_ptr<SharedTop>> tops_;  // each query's top-k
  std::vector<SearchWork> work_;                  // the first pass's, per query
  std::vector<std::vector<SearchWork>> part_work_;
};

// One part's pass over a chunk of clusters: the queries each cluster's bound lets in (found query by
// query over the chunk), grouped by cluster; then per cluster, multi-query scans of the codes the
// queries' rings [d(q, c) - tau, d(q, c) + tau] cover: the queries in registers, each code loaded
// once, a query's hits outside its own ring cannot pass its tau. The rings are taken from the
// outermost shells (which most queries need) inwards and cut into bands where widening the scan
// would cost more pair tests than kScanSetup: one band per cluster ran 2,511 q/s against ~3,000
// with bands (10^7 codes, 10^4 centres, 20% flips, 10^4 clusters), and one scan per ring spent
// more in set-up than it saved.
template <class Dist>
class ClusterMajor<Dist>::PartPass : public HitSink {
 public:
  PartPass(const ClusterMajor& b, const uint8_t* queries, size_t nq, std::vector<SearchWork>& work)
      : b_(b), queries_(queries), nq_(nq), work_(work) {}

  void chunk(size_t c0, size_t c1) {
    group_visits(c0, c1);
    for (size_t i = 0; i + 1 < start_.size(); ++i)
      if (start_[i] < start_[i + 1]) scan_cluster(uint32_t(c0 + i), start_[i], start_[i + 1]);
  }

  void hit(size_t i, dist_t d, size_t pos) override { thresholds_[i] = b_.offer(group_[i], d, b_.cl_.positions[pos]); }

 private:
  struct Visit {
    uint32_t query;
    dist_t dq;
  };
  struct Ring {
    uint32_t first, last, query;
    dist_t tau;
    uint32_t key;
  };

  // by_cluster_[start_[i], start_[i + 1]): the visits of cluster c0 + i.
  void group_visits(size_t c0, size_t c1) {
    const size_t width = c1 - c0;
    candidates_.resize(width);
    start_.assign(width + 1, 0);
    visits_.clear();
    for (size_t q = 0; q < nq_; ++q) {
      const Dist* dq = b_.dq_.data() + q * b_.stride_;
      const size_t m = within(b_.kt_, dq + c0, b_.radius_ + c0, width, b_.tau(q), candidates_.data());
      for (size_t j = 0; j < m; ++j) {
        const uint32_t i = candidates_[j];
        if (b_.visited_first(q, uint32_t(c0 + i))) continue;
        visits_.push_back({i, Visit{uint32_t(q), dist_t(dq[c0 + i])}});
        ++start_[i + 1];
      }
    }
    for (size_t i = 0; i < width; ++i) start_[i + 1] += start_[i];
    by_cluster_.resize(visits_.size());
    fill_.assign(start_.begin(), start_.end() - 1);
    for (const auto& v : visits_) by_cluster_[fill_[v.first]++] = v.second;
  }

  // The rings of the visits [from, to) of cluster c, by their lower end d(q, c) - tau from the
  // farthest inwards (a counting sort), scanned band by band.
  void scan_cluster(uint32_t c, size_t from, size_t to) {
    const ClusterScan::Clusters& cl = b_.cl_;
    const int nbits = int(cl.code_size * 8);
    rings_.clear();
    key_start_.assign(size_t(nbits) + 2, 0);
    for (size_t j = from; j < to; ++j) {
      const Visit v = by_cluster_[j];
      const dist_t t = b_.tau(v.query);
      size_t first = 0, last = 0;
      cl.ring(c, int64_t(v.dq) - t, int64_t(v.dq) + t, first, last);
      ++work_[v.query].probes;
      if (first == last) continue;
      work_[v.query].candidates += last - first;
      const size_t key = size_t(nbits - std::clamp<dist_t>(v.dq - t, 0, nbits));
      rings_.push_back({uint32_t(first), uint32_t(last), v.query, t, uint32_t(key)});
      ++key_start_[key + 1];
    }
    if (rings_.empty()) return;
    for (size_t i = 0; i + 1 < key_start_.size(); ++i) key_start_[i + 1] += key_start_[i];
    sorted_.resize(rings_.size());
    for (const Ring& r : rings_) sorted_[key_start_[r.key]++] = r;
    size_t band = 0, lo = sorted_[0].first, hi = sorted_[0].last;
    for (size_t i = 1; i < sorted_.size(); ++i) {
      const Ring& r = sorted_[i];
      const size_t lo2 = std::min<size_t>(lo, r.first), hi2 = std::max<size_t>(hi, r.last);
      const size_t n = i - band;
      if ((n + 1) * (hi2 - lo2) <= n * (hi - lo) + (r.last - r.first) + kScanSetup) {
        lo = lo2;
        hi = hi2;
        continue;
      }
      scan_band(band, i, lo, hi);
      band = i;
      lo = r.first;
      hi = r.last;
    }
    scan_band(band, sorted_.size(), lo, hi);
  }

  // One multi-query scan of the cluster codes [lo, hi) for the rings sorted_[r0, r1).
  void scan_band(size_t r0, size_t r1, size_t lo, size_t hi) {
    const ClusterScan::Clusters& cl = b_.cl_;
    const size_t cs = cl.code_size;
    group_.clear();
    thresholds_.clear();
    block_.resize((r1 - r0) * cs);
    for (size_t r = r0; r < r1; ++r) {
      std::copy_n(queries_ + size_t(sorted_[r].query) * cs, cs, block_.data() + group_.size() * cs);
      group_.push_back(sorted_[r].query);
      thresholds_.push_back(std::min(sorted_[r].tau, b_.tau(sorted_[r].query)));
    }
    thresholds = thresholds_.data();
    b_.kt_.scan(ScanBlock{block_.data(), group_.size(), cl.codes.data() + lo * cs, hi - lo, cs, lo, 0}, *this);
  }

  const ClusterMajor& b_;
  const uint8_t* queries_;
  size_t nq_;
  std::vector<SearchWork>& work_;
  std::vector<uint32_t> candidates_, start_, fill_, group_, key_start_;
  std::vector<std::pair<uint32_t, Visit>> visits_;  // (cluster in the chunk, visit)
  std::vector<Visit> by_cluster_;
  std::vector<Ring> rings_, sorted_;
  std::vector<dist_t> thresholds_;
  std::vector<uint8_t> block_;
};

}  // namespace

void ClusterScan::search_by_cluster(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
                                    int num_threads, SearchWork* work) const {
  const int threads = resolve_threads(num_threads);
  if (byte_distances(kernels(), *clusters_))
    ClusterMajor<uint8_t>(*clusters_, *store_, indexed_, k, threads).run(queries, nq, distances, ids, work);
  else
    ClusterMajor<dist_t>(*clusters_, *store_, indexed_, k, threads).run(queries, nq, distances, ids, work);
}

}  // namespace nash_index
