#include "nash_index/flat_index.hpp"

namespace nash_index {

namespace {
IndexHeaderInfo header_of(const CodeStore& store) {
  return {IndexKind::Flat, static_cast<uint32_t>(store.nbits()), store.size(), 0};
}
}  // namespace

void FlatIndex::save(const std::string& path) const { write_index_file(path, header_of(store_), store_.sections()); }

std::vector<uint8_t> FlatIndex::serialize() const { return serialize_index(header_of(store_), store_.sections()); }

std::unique_ptr<FlatIndex> FlatIndex::load(const std::shared_ptr<IndexFile>& file) {
  if (file->info().kind != IndexKind::Flat) throw FormatError("index file does not hold a FlatIndex");
  return std::unique_ptr<FlatIndex>(new FlatIndex(CodeStore::from_file(file)));
}

}  // namespace nash_index
