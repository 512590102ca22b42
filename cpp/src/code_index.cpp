// What every kind inherits: the code store's accessors, persistence through
// the sections a kind lists, and no upkeep.
#include "nash_index/code_index.hpp"

#include <cstring>

#include "code_store.hpp"
#include "file_sections.hpp"

namespace nash_index {
namespace {

IndexHeaderInfo header_of(const CodeIndex& index) {
  return {index.kind(), static_cast<uint32_t>(index.nbits()), index.ntotal(), 0};
}

}  // namespace

CodeIndex::CodeIndex(int nbits) : store_(std::make_unique<CodeStore>(nbits)) {}
CodeIndex::CodeIndex(const std::shared_ptr<IndexFile>& file, size_t max_codes)
    : store_(std::make_unique<CodeStore>(CodeStore::from_file(file, max_codes))) {}
CodeIndex::~CodeIndex() = default;
CodeIndex::Upkeep::~Upkeep() = default;

int CodeIndex::nbits() const { return store_->nbits(); }
size_t CodeIndex::code_size() const { return store_->code_size(); }
size_t CodeIndex::ntotal() const { return store_->size(); }
bool CodeIndex::is_mapped() const { return store_->is_mapped(); }

void CodeIndex::add(const uint8_t* codes, size_t n, const idx_t* ids) { store_->add(codes, n, ids); }
size_t CodeIndex::remove(const idx_t* ids, size_t n) { return store_->remove(ids, n); }
void CodeIndex::reset() { store_->reset(); }

const uint8_t* CodeIndex::codes() const { return store_->codes(); }
std::vector<idx_t> CodeIndex::ids() const { return store_->ids_copy(); }
bool CodeIndex::reconstruct(idx_t id, uint8_t* out) const {
  const std::vector<size_t> at = store_->positions_of(&id, 1);
  if (at.empty()) return false;
  std::memcpy(out, store_->codes() + at[0] * store_->code_size(), store_->code_size());
  return true;
}

void CodeIndex::add_sections(FileSections& out) const { store_->add_sections(out); }

void CodeIndex::save(const std::string& path) const {
  FileSections sections;
  add_sections(sections);
  write_index_file(path, header_of(*this), sections);
}

std::vector<uint8_t> CodeIndex::serialize() const {
  FileSections sections;
  add_sections(sections);
  return serialize_index(header_of(*this), sections);
}

std::unique_ptr<CodeIndex::Upkeep> CodeIndex::prepare_upkeep(bool) const { return nullptr; }
bool CodeIndex::install_upkeep(Upkeep&) { return true; }

}  // namespace nash_index
