#include "nash_index/flat_index.hpp"

#include "code_store.hpp"
#include "nash_index/index_kinds.hpp"
#include "scan_search.hpp"

namespace nash_index {

namespace {
const RegisterKind<FlatIndex> registered("flat");
}  // namespace

FlatIndex::FlatIndex(int nbits) : CodeIndex(nbits) {}
FlatIndex::FlatIndex(const std::shared_ptr<IndexFile>& file) : CodeIndex(file) {}

void FlatIndex::search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
                       SearchWork*) const {
  scan_knn(store_->view(), queries, nq, k, distances, ids, num_threads);
}

RangeResult FlatIndex::range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                                    SearchWork*) const {
  return scan_range(store_->view(), queries, nq, radius, num_threads);
}

std::unique_ptr<FlatIndex> FlatIndex::load(const std::shared_ptr<IndexFile>& file) {
  return std::unique_ptr<FlatIndex>(new FlatIndex(file));
}

}  // namespace nash_index
