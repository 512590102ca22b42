// A trivially exact index kind built only for the tests (CMake option
// NASH_INDEX_TEST_KINDS, which scripts/setup.sh turns on): it is all that a
// new kind needs (this header and its source, whose one line registers it)
// and runs through the same exactness, file and shard tests as the real
// kinds. Every query ranks every code: slow, plain and obviously right.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "nash_index/code_index.hpp"
#include "nash_index/index_kinds.hpp"

namespace nash_index {

class SortedScanIndex : public CodeIndex {
 public:
  static constexpr uint32_t kTag = kFirstTestTag + 1;

  explicit SortedScanIndex(int nbits);
  uint32_t kind() const override { return kTag; }
  void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
              SearchWork* work = nullptr) const override;
  RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                           SearchWork* work = nullptr) const override;
  static std::unique_ptr<SortedScanIndex> load(const std::shared_ptr<IndexFile>& file);

 private:
  explicit SortedScanIndex(const std::shared_ptr<IndexFile>& file);
  // (distance, id) of every stored code to `query`, in ascending order.
  std::vector<std::pair<dist_t, idx_t>> ranked(const uint8_t* query) const;
};

}  // namespace nash_index
