#include "sorted_scan.hpp"

#include <algorithm>

namespace nash_index {
namespace {

const RegisterKind<SortedScanIndex> registered("sorted");

dist_t byte_hamming(const uint8_t* a, const uint8_t* b, size_t bytes) {
  dist_t bits = 0;
  for (size_t i = 0; i < bytes; ++i) bits += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return bits;
}

}  // namespace

SortedScanIndex::SortedScanIndex(int nbits) : CodeIndex(nbits) {}
SortedScanIndex::SortedScanIndex(const std::shared_ptr<IndexFile>& file) : CodeIndex(file) {}

std::unique_ptr<SortedScanIndex> SortedScanIndex::load(const std::shared_ptr<IndexFile>& file) {
  return std::unique_ptr<SortedScanIndex>(new SortedScanIndex(file));
}

std::vector<std::pair<dist_t, idx_t>> SortedScanIndex::ranked(const uint8_t* query) const {
  const std::vector<idx_t> all_ids = ids();
  std::vector<std::pair<dist_t, idx_t>> order(all_ids.size());
  for (size_t pos = 0; pos < order.size(); ++pos)
    order[pos] = {byte_hamming(query, codes() + pos * code_size(), code_size()), all_ids[pos]};
  std::sort(order.begin(), order.end());
  return order;
}

void SortedScanIndex::search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int,
                             SearchWork*) const {
  for (size_t q = 0; q < nq; ++q) {
    const std::vector<std::pair<dist_t, idx_t>> order = ranked(queries + q * code_size());
    for (size_t j = 0; j < k; ++j) {
      const bool hit = j < order.size();
      distances[q * k + j] = hit ? order[j].first : kPadDistance;
      ids[q * k + j] = hit ? order[j].second : kPadId;
    }
  }
}

RangeResult SortedScanIndex::range_search(const uint8_t* queries, size_t nq, dist_t radius, int,
                                          SearchWork*) const {
  RangeResult out;
  out.lims.push_back(0);
  for (size_t q = 0; q < nq; ++q) {
    for (const auto& [distance, id] : ranked(queries + q * code_size())) {
      if (distance > radius) break;
      out.distances.push_back(distance);
      out.ids.push_back(id);
    }
    out.lims.push_back(out.ids.size());
  }
  return out;
}

}  // namespace nash_index
