// Exhaustive (scan) search over a block of packed codes: the flat index's
// search, and the fallback of multi-index hashing for large query batches.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nash_index/common.hpp"
#include "topk.hpp"

namespace nash_index {

// Read-only view of a database: codes in position order and their ids.
struct CodesView {
  const uint8_t* codes = nullptr;
  const idx_t* ids = nullptr;  // ids[pos]
  size_t ntotal = 0;
  int nbits = 0;
  size_t code_size = 0;
  bool ids_increasing = false;  // ids[pos] strictly increasing with pos

  idx_t id_at(size_t pos) const { return ids ? ids[pos] : static_cast<idx_t>(pos); }
};

// k nearest by (distance, id) for each query; writes nq * k entries, padded.
void scan_knn(const CodesView& db, const uint8_t* queries, size_t nq, size_t k, dist_t* distances,
              idx_t* ids, int num_threads);

// All codes within `radius` (inclusive) of each query, unsorted.
std::vector<std::vector<Neighbor>> scan_range_lists(const CodesView& db, const uint8_t* queries, size_t nq,
                                                    dist_t radius, int num_threads);

// All codes within `radius` (inclusive), each query's results sorted by (distance, id).
RangeResult scan_range(const CodesView& db, const uint8_t* queries, size_t nq, dist_t radius,
                       int num_threads);

}  // namespace nash_index
