// Exact Hamming k-NN and range search by scanning every code.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nash_index/code_index.hpp"
#include "nash_index/index_file.hpp"

namespace nash_index {

class FlatIndex : public CodeIndex {
 public:
  explicit FlatIndex(int nbits);

  // ids == nullptr continues after the largest id so far.
  void add(const uint8_t* codes, size_t n, const idx_t* ids);
  size_t remove(const idx_t* ids, size_t n);
  void reset();

  // k nearest by (distance, id) per query: nq * k entries, padded with (kPadDistance, kPadId).
  void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads) const;
  // Every code within `radius` (inclusive), each query's results sorted by (distance, id).
  RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads) const;

  void save(const std::string& path) const;
  std::vector<uint8_t> serialize() const;
  static std::unique_ptr<FlatIndex> load(const std::shared_ptr<IndexFile>& file);

 private:
  explicit FlatIndex(std::unique_ptr<CodeStore> store);
};

}  // namespace nash_index
