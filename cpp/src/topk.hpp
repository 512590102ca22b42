// Exact top-k selection by (distance, id), exploiting that distances are small
// integers: a buffer of candidates is compacted with a histogram over 0..nbits
// (counting, no heap), and the boundary distance becomes the scan threshold.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nash_index/common.hpp"

namespace nash_index {

struct Neighbor {
  dist_t distance;
  idx_t id;
  bool operator<(const Neighbor& o) const { return distance != o.distance ? distance < o.distance : id < o.id; }
};

// Top-k of one query. Candidates arrive in any order; the result is the k
// smallest (distance, id) pairs.
class TopK {
 public:
  TopK(size_t k, int nbits);

  // Largest distance that can still enter (the scan threshold).
  dist_t threshold() const { return threshold_; }
  // Offers a candidate; returns the new threshold. `monotonic_ids` says ids
  // arrive in increasing order, so a tie at the boundary can never win.
  dist_t offer(dist_t d, idx_t id, bool monotonic_ids);
  // k-th smallest distance offered so far, or nbits + 1 while fewer than k
  // were offered (O(1); used by searches that stop early).
  dist_t kth_distance();
  // Sorted result, at most k entries.
  std::vector<Neighbor> finish();
  // Writes exactly k entries, padding with (kPadDistance, kPadId).
  void finish_into(dist_t* distances, idx_t* ids);

 private:
  void compact();

  size_t k_;
  int nbits_;
  size_t capacity_;
  std::vector<Neighbor> buffer_;
  std::vector<uint32_t> histogram_;  // distances of every buffered candidate
  dist_t threshold_;
  dist_t boundary_distance_;  // after a compaction: the k-th distance
  idx_t boundary_id_;         // and the largest id kept at that distance
  bool monotonic_ = false;
  dist_t cut_;             // smallest distance with >= k candidates at or below it (else nbits)
  size_t below_cut_ = 0;   // candidates at distance <= cut_
};

// Merges per-part results (each sorted) into the k best, written with padding.
void merge_topk(std::vector<std::vector<Neighbor>>& parts, size_t k, dist_t* distances, idx_t* ids);

}  // namespace nash_index
