// Exact Hamming k-NN and range search by scanning every code.
#pragma once
#include <memory>

#include "nash_index/code_index.hpp"
#include "nash_index/index_file.hpp"

namespace nash_index {

class FlatIndex : public CodeIndex {
 public:
  static constexpr uint32_t kTag = 1;  // on disk (index_kinds.hpp)

  explicit FlatIndex(int nbits);
  uint32_t kind() const override { return kTag; }

  // Scans ignore `work`: they measure nothing.
  void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
              SearchWork* work = nullptr) const override;
  RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                           SearchWork* work = nullptr) const override;

  static std::unique_ptr<FlatIndex> load(const std::shared_ptr<IndexFile>& file);

 private:
  explicit FlatIndex(const std::shared_ptr<IndexFile>& file);
};

}  // namespace nash_index
