#include "nash_index/flat_index.hpp"

#include "code_store.hpp"
#include "scan_search.hpp"

namespace nash_index {

namespace {
IndexHeaderInfo header_of(const CodeStore& store) {
  return {IndexKind::Flat, static_cast<uint32_t>(store.nbits()), store.size(), 0};
}
}  // namespace

FlatIndex::FlatIndex(int nbits) : CodeIndex(std::make_unique<CodeStore>(nbits)) {}
FlatIndex::FlatIndex(std::unique_ptr<CodeStore> store) : CodeIndex(std::move(store)) {}

void FlatIndex::add(const uint8_t* codes, size_t n, const idx_t* ids) { store_->add(codes, n, ids); }
size_t FlatIndex::remove(const idx_t* ids, size_t n) { return store_->remove(ids, n); }
void FlatIndex::reset() { store_->reset(); }

void FlatIndex::search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
                       int num_threads) const {
  scan_knn(store_->view(), queries, nq, k, distances, ids, num_threads);
}

RangeResult FlatIndex::range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads) const {
  return scan_range(store_->view(), queries, nq, radius, num_threads);
}

void FlatIndex::save(const std::string& path) const { write_index_file(path, header_of(*store_), store_->sections()); }

std::vector<uint8_t> FlatIndex::serialize() const { return serialize_index(header_of(*store_), store_->sections()); }

std::unique_ptr<FlatIndex> FlatIndex::load(const std::shared_ptr<IndexFile>& file) {
  if (file->info().kind != IndexKind::Flat) throw FormatError("index file does not hold a FlatIndex");
  return std::unique_ptr<FlatIndex>(new FlatIndex(std::make_unique<CodeStore>(CodeStore::from_file(file))));
}

}  // namespace nash_index
