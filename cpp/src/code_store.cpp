#include "code_store.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "nash_index/code_index.hpp"

namespace nash_index {

CodeStore::CodeStore(int nbits) : nbits_(nbits), code_size_(code_size_for(nbits)) {}

CodesView CodeStore::view() const {
  CodesView v;
  v.codes = codes_;
  v.ids = ids_;
  v.ntotal = ntotal_;
  v.nbits = nbits_;
  v.code_size = code_size_;
  v.ids_increasing = ids_increasing_;
  return v;
}

void CodeStore::refresh_pointers() {
  codes_ = owned_codes_.data();
  ids_ = owned_identity_ ? nullptr : owned_ids_.data();
}

void CodeStore::make_owned() {
  if (!file_) return;
  owned_codes_.assign(codes_, codes_ + ntotal_ * code_size_);
  owned_identity_ = ids_ == nullptr;
  if (!owned_identity_) owned_ids_.assign(ids_, ids_ + ntotal_);
  file_.reset();
  refresh_pointers();
}

void CodeStore::materialize_ids() {
  if (!owned_identity_) return;
  owned_ids_.resize(ntotal_);
  for (size_t i = 0; i < ntotal_; ++i) owned_ids_[i] = static_cast<idx_t>(i);
  owned_identity_ = false;
}

void CodeStore::check_new_ids(const idx_t* ids, size_t n) const {
  bool increasing = ntotal_ == 0 || (ids_increasing_ && n > 0 && ids[0] > id_at(ntotal_ - 1));
  for (size_t i = 1; increasing && i < n; ++i) increasing = ids[i] > ids[i - 1];
  if (increasing) return;  // strictly increasing after the last id: no duplicate possible
  std::vector<idx_t> all = ids_copy();
  all.insert(all.end(), ids, ids + n);
  std::sort(all.begin(), all.end());
  auto dup = std::adjacent_find(all.begin(), all.end());
  if (dup != all.end()) throw std::invalid_argument("ids must be unique; id " + std::to_string(*dup) + " is repeated");
}

std::vector<idx_t> CodeStore::ids_copy() const {
  std::vector<idx_t> out(ntotal_);
  for (size_t i = 0; i < ntotal_; ++i) out[i] = id_at(i);
  return out;
}

void CodeStore::add(const uint8_t* codes, size_t n, const idx_t* ids) {
  if (n == 0) return;
  if (ids) check_new_ids(ids, n);
  make_owned();
  const bool stays_identity = !ids && owned_identity_ && next_id_ == static_cast<idx_t>(ntotal_);
  if (!stays_identity) {
    materialize_ids();
    const size_t old = owned_ids_.size();
    owned_ids_.resize(old + n);
    for (size_t i = 0; i < n; ++i) owned_ids_[old + i] = ids ? ids[i] : next_id_ + static_cast<idx_t>(i);
    const idx_t first = owned_ids_[old];
    ids_increasing_ = ids_increasing_ && (old == 0 || first > owned_ids_[old - 1]);
    for (size_t i = 1; ids_increasing_ && i < n; ++i) ids_increasing_ = owned_ids_[old + i] > owned_ids_[old + i - 1];
  }
  owned_codes_.insert(owned_codes_.end(), codes, codes + n * code_size_);
  ntotal_ += n;
  for (size_t i = 0; i < n; ++i) next_id_ = std::max(next_id_, (ids ? ids[i] : next_id_) + 1);
  refresh_pointers();
}

size_t CodeStore::remove(const idx_t* ids, size_t n) {
  if (n == 0 || ntotal_ == 0) return 0;
  make_owned();
  materialize_ids();
  const std::unordered_set<idx_t> doomed(ids, ids + n);
  size_t kept = 0;
  for (size_t pos = 0; pos < ntotal_; ++pos) {
    if (doomed.count(owned_ids_[pos])) continue;
    if (kept != pos) {
      std::memcpy(&owned_codes_[kept * code_size_], &owned_codes_[pos * code_size_], code_size_);
      owned_ids_[kept] = owned_ids_[pos];
    }
    ++kept;
  }
  const size_t removed = ntotal_ - kept;
  ntotal_ = kept;
  owned_codes_.resize(kept * code_size_);
  owned_ids_.resize(kept);
  refresh_pointers();
  return removed;
}

void CodeStore::erase_positions(const std::vector<size_t>& positions) {
  if (positions.empty()) return;
  make_owned();
  materialize_ids();
  uint8_t* codes = owned_codes_.data();
  idx_t* ids = owned_ids_.data();
  size_t kept = positions[0];
  for (size_t i = 0; i < positions.size(); ++i) {
    const size_t from = positions[i] + 1, to = i + 1 < positions.size() ? positions[i + 1] : ntotal_;
    std::memmove(codes + kept * code_size_, codes + from * code_size_, (to - from) * code_size_);
    std::memmove(ids + kept, ids + from, (to - from) * sizeof(idx_t));
    kept += to - from;
  }
  ntotal_ = kept;
  owned_codes_.resize(kept * code_size_);
  owned_ids_.resize(kept);
  refresh_pointers();
}

void CodeStore::reset() {
  file_.reset();
  owned_codes_.clear();
  owned_codes_.shrink_to_fit();
  owned_ids_.clear();
  owned_ids_.shrink_to_fit();
  owned_identity_ = true;
  ids_increasing_ = true;
  ntotal_ = 0;
  next_id_ = 0;
  refresh_pointers();
}

std::vector<SectionData> CodeStore::sections() const {
  std::vector<SectionData> out{{kSectionCodes, codes_, ntotal_ * code_size_}};
  if (ids_) out.push_back({kSectionIds, ids_, ntotal_ * sizeof(idx_t)});
  return out;
}

CodeStore CodeStore::from_file(const std::shared_ptr<IndexFile>& file) {
  const IndexHeaderInfo& info = file->info();
  CodeStore store(static_cast<int>(info.nbits));
  uint64_t bytes = 0;
  const uint8_t* codes = file->section(kSectionCodes, &bytes);
  if (bytes != info.ntotal * store.code_size_)
    throw FormatError("index file is inconsistent: code block has " + std::to_string(bytes) + " bytes for " +
                      std::to_string(info.ntotal) + " codes");
  store.ntotal_ = info.ntotal;
  store.codes_ = codes;
  store.ids_ = nullptr;
  store.next_id_ = static_cast<idx_t>(info.ntotal);
  if (file->has_section(kSectionIds)) {
    const uint8_t* ids = file->section(kSectionIds, &bytes);
    if (bytes != info.ntotal * sizeof(idx_t)) throw FormatError("index file is inconsistent: id block size");
    if (reinterpret_cast<uintptr_t>(ids) % alignof(idx_t) != 0) throw FormatError("index file: misaligned ids");
    store.ids_ = reinterpret_cast<const idx_t*>(ids);
    store.next_id_ = 0;
    store.ids_increasing_ = true;
    for (size_t i = 0; i < info.ntotal; ++i) {
      store.next_id_ = std::max(store.next_id_, store.ids_[i] + 1);
      if (i > 0 && store.ids_[i] <= store.ids_[i - 1]) store.ids_increasing_ = false;
    }
  }
  store.file_ = file;
  if (!file->is_mapped()) store.make_owned();
  return store;
}

CodeIndex::CodeIndex(std::unique_ptr<CodeStore> store) : store_(std::move(store)) {}
CodeIndex::~CodeIndex() = default;
int CodeIndex::nbits() const { return store_->nbits(); }
size_t CodeIndex::code_size() const { return store_->code_size(); }
size_t CodeIndex::ntotal() const { return store_->size(); }
bool CodeIndex::is_mapped() const { return store_->is_mapped(); }
const uint8_t* CodeIndex::codes() const { return store_->codes(); }
std::vector<idx_t> CodeIndex::ids() const { return store_->ids_copy(); }

}  // namespace nash_index
