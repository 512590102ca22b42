// What a ClusterScan query does inside one cluster (verify the ring of members whose distance to
// the centre lies within tau of the query's), shared by the query-by-query walk
// (cluster_search.cpp) and the cluster-major batch (cluster_batch.cpp).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>

#include "cluster_tables.hpp"
#include "code_store.hpp"
#include "kernels.hpp"
#include "topk.hpp"

namespace nash_index {
namespace cluster_visit {

// A k-NN walk's result: tau is the k-th best distance so far.
struct TopSink {
  TopK top;
  const CodeStore& store;
  TopSink(size_t k, const CodeStore& s) : top(k, s.nbits()), store(s) {}
  dist_t tau() const { return top.threshold(); }
  // Returns the new threshold: the largest distance that can still enter.
  dist_t offer(dist_t d, size_t pos) { return top.offer(d, store.id_at(pos), false); }
};

// A query's top-k, offered to by every thread under a spin lock; tau (the largest distance that can
// still enter) is read without it.
struct SharedTop {
  std::atomic_flag lock = ATOMIC_FLAG_INIT;
  TopK top;
  SharedTop(size_t k, int nbits) : top(k, nbits) {}
  explicit SharedTop(TopK&& from) : top(std::move(from)) {}
  dist_t offer(dist_t d, idx_t id, std::atomic<dist_t>& tau) {
    while (lock.test_and_set(std::memory_order_acquire)) std::this_thread::yield();  // a holder the OS paused
    const dist_t t = top.offer(d, id, false);
    tau.store(t, std::memory_order_relaxed);
    lock.clear(std::memory_order_release);
    return t;
  }
};

// A sink over a SharedTop that several threads visit clusters for at once (a batch's
// first pass, a single query's split walk).
struct SharedSink {
  SharedTop& shared;
  std::atomic<dist_t>& tau_of;
  const CodeStore& store;
  dist_t tau() const { return tau_of.load(std::memory_order_relaxed); }
  dist_t offer(dist_t d, size_t pos) { return shared.offer(d, store.id_at(pos), tau_of); }
};

constexpr size_t kSmallBlock = 64;

// Passes the scan kernel's hits (block positions) on to a walk's sink as store positions.
template <class Sink, class Position>
class VerifySink : public HitSink {
 public:
  VerifySink(Sink& sink, Position position, dist_t tau) : sink_(sink), position_(position), tau_(tau) {
    thresholds = &tau_;
  }
  void hit(size_t, dist_t d, size_t pos) override { tau_ = sink_.offer(d, position_(pos)); }
  dist_t tau() const { return tau_; }

 private:
  Sink& sink_;
  Position position_;
  dist_t tau_;
};

// Verifies the `count` contiguous codes at `codes` with the flat scan's kernel (store position of
// code j: position(j)), offering those within tau; returns the threshold after them.
template <class Sink, class Position>
dist_t verify(const KernelTable& kt, const uint8_t* query, const uint8_t* codes, size_t count, size_t cs, Sink& sink,
              dist_t tau, Position position) {
  if (count < kSmallBlock) {  // the scan kernel's set-up would cost more than these codes
    dist_t d[kSmallBlock];
    if (kt.all_distances(query, codes, count, cs, d, nullptr) > tau) return tau;  // the usual far ring
    for (size_t j = 0; j < count; ++j)
      if (d[j] <= tau) tau = sink.offer(d[j], position(j));
    return tau;
  }
  VerifySink<Sink, Position> hits(sink, position, tau);
  kt.scan(ScanBlock{query, 1, codes, count, cs, 0, 0}, hits);
  return hits.tau();
}

// Verifies the clustered codes [first, last) (a ring) at the sink's tau of the moment.
template <class Sink>
void verify_members(const KernelTable& kt, const ClusterScan::Clusters& cl, const uint8_t* query, size_t first,
                    size_t last, Sink& sink, uint64_t& verified) {
  if (first == last) return;
  const uint32_t* positions = cl.positions.data() + first;
  verify(kt, query, cl.codes.data() + first * cl.code_size, last - first, cl.code_size, sink, sink.tau(),
         [positions](size_t j) { return size_t(positions[j]); });
  verified += last - first;
}

// Visits cluster c: verifies its members within the window |d(x, c) - dq| <= tau.
template <class Sink>
void visit(const KernelTable& kt, const ClusterScan::Clusters& cl, const uint8_t* query, uint32_t c, dist_t dq,
           Sink& sink, uint64_t& verified) {
  const dist_t tau = sink.tau();
  size_t first = 0, last = 0;
  cl.ring(c, int64_t(dq) - tau, int64_t(dq) + tau, first, last);
  verify_members(kt, cl, query, first, last, sink, verified);
}

// The centre pass with distances of either width: int32, or bytes for codes of at most 248 bits
// (a quarter of the traffic; the pass over every centre was ~2/3 of a query at 10^7 codes).
inline dist_t all_centres(const KernelTable& kt, const uint8_t* query, const ClusterScan::Clusters& cl, dist_t* out,
                          size_t* nearest) {
  return kt.all_distances(query, cl.centres.data(), cl.count, cl.code_size, out, nearest);
}
inline dist_t all_centres(const KernelTable& kt, const uint8_t* query, const ClusterScan::Clusters& cl, uint8_t* out,
                          size_t* nearest) {
  return kt.all_distances_u8(query, cl.centres_sliced.data(), cl.count, cl.code_size, out, nearest);
}
inline size_t within(const KernelTable& kt, const dist_t* dq, const dist_t* radius, size_t k, dist_t tau,
                     uint32_t* out) {
  return kt.within(dq, radius, k, tau, out);
}
inline size_t within(const KernelTable& kt, const uint8_t* dq, const uint8_t* radius, size_t k, dist_t tau,
                     uint32_t* out) {
  return kt.within_u8(dq, radius, k, tau, out);
}
inline const dist_t* radii(const ClusterScan::Clusters& cl, dist_t*) { return cl.radius.data(); }
inline const uint8_t* radii(const ClusterScan::Clusters& cl, uint8_t*) { return cl.radius_u8.data(); }

// Whether queries take centre distances as bytes: codes of at most 248 bits, at a level with the
// byte kernels (the walk, the batch and the batch's estimate all choose the same way).
inline bool byte_distances(const KernelTable& kt, const ClusterScan::Clusters& cl) {
  return cl.radius_u8.size() == cl.count && kt.all_distances_u8 != nullptr;
}

}  // namespace cluster_visit
}  // namespace nash_index
