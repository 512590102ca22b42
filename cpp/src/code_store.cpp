#include "code_store.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>


namespace nash_index {

CodeStore::CodeStore(int nbits) : nbits_(nbits), code_size_(code_size_for(nbits)) { refresh_pointers(); }

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

namespace {
constexpr uint64_t kStoreMetaVersion = 1;
constexpr idx_t kMaxId = std::numeric_limits<idx_t>::max();
// The default id after `id`, without overflow (INT64_MAX then has no successor).
idx_t after(idx_t id) { return id == kMaxId ? kMaxId : id + 1; }
}  // namespace

std::array<uint64_t, 2> CodeStore::meta_words_for(idx_t next_id) {
  return {kStoreMetaVersion, static_cast<uint64_t>(next_id)};
}

void CodeStore::refresh_pointers() {
  codes_ = owned_codes_.data();
  ids_ = owned_identity_ ? nullptr : owned_ids_.data();
  const std::array<uint64_t, 2> words = meta_words_for(next_id_);
  std::copy(words.begin(), words.end(), meta_words_);
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
  // -1 pads results: a stored negative id would be indistinguishable from padding.
  for (size_t i = 0; i < n; ++i)
    if (ids[i] < 0)  // (not require(): its message would be built for every id)
      throw std::invalid_argument("ids must be >= 0, got " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(i));
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
  require(ids || static_cast<uint64_t>(n) <= static_cast<uint64_t>(kMaxId - next_id_),
          "no default ids left after id " + std::to_string(next_id_) + "; pass ids explicitly");
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
  if (ids) {
    for (size_t i = 0; i < n; ++i) next_id_ = std::max(next_id_, after(ids[i]));
  } else {
    next_id_ += static_cast<idx_t>(n);
  }
  refresh_pointers();
}

size_t CodeStore::remove(const idx_t* ids, size_t n) {
  const std::vector<size_t> doomed = positions_of(ids, n);
  erase_positions(doomed);
  return doomed.size();
}

// Sorted, distinct positions of the listed ids that are present (absent ones
// are skipped). Identity ids are positions; increasing ids are binary-searched
// (the common case: O(n log N)); otherwise one pass over the store's ids.
std::vector<size_t> CodeStore::positions_of(const idx_t* ids, size_t n) const {
  std::vector<size_t> out;
  if (n == 0 || ntotal_ == 0) return out;
  if (identity_ids()) {
    for (size_t i = 0; i < n; ++i)
      if (ids[i] >= 0 && static_cast<size_t>(ids[i]) < ntotal_) out.push_back(static_cast<size_t>(ids[i]));
  } else if (ids_increasing_) {
    const idx_t* end = ids_ + ntotal_;
    for (size_t i = 0; i < n; ++i) {
      const idx_t* at = std::lower_bound(ids_, end, ids[i]);
      if (at != end && *at == ids[i]) out.push_back(static_cast<size_t>(at - ids_));
    }
  } else {
    std::vector<idx_t> wanted(ids, ids + n);
    std::sort(wanted.begin(), wanted.end());
    const idx_t lo = wanted.front(), hi = wanted.back();
    for (size_t pos = 0; pos < ntotal_; ++pos) {
      const idx_t id = ids_[pos];
      if (id >= lo && id <= hi && std::binary_search(wanted.begin(), wanted.end(), id)) out.push_back(pos);
    }
    return out;  // already in order, and ids in the store are unique
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
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

void CodeStore::add_sections(FileSections& out, const uint8_t* codes, uint64_t count, size_t code_size, const idx_t* ids,
                             const uint64_t* meta_words) {
  out.add(kSectionCodes, codes, count * code_size);
  if (ids) out.add(kSectionIds, ids, count * sizeof(idx_t));
  // Always written: after a removal the next default id is not max id + 1.
  out.add(kSectionStoreMeta, meta_words, 2 * sizeof(uint64_t));
}

// IndexFile::parse has bounded every section by the file size and checked
// nbits; what is left is the consistency of the sections with ntotal.
CodeStore CodeStore::from_file(const std::shared_ptr<IndexFile>& file, size_t max_codes) {
  const IndexHeaderInfo& info = file->info();
  CodeStore store(static_cast<int>(info.nbits));
  const std::string bad = "index file is inconsistent: ";
  if (info.ntotal > max_codes)
    throw FormatError(bad + "it holds " + std::to_string(info.ntotal) + " codes, this index kind at most " +
                      std::to_string(max_codes));
  uint64_t bytes = 0, expected = 0;
  const uint8_t* codes = file->section(kSectionCodes, &bytes);
  if (__builtin_mul_overflow(info.ntotal, static_cast<uint64_t>(store.code_size_), &expected) || bytes != expected)
    throw FormatError(bad + "code block has " + std::to_string(bytes) + " bytes for " + std::to_string(info.ntotal) +
                      " codes of " + std::to_string(store.code_size_) + " bytes");
  store.ntotal_ = info.ntotal;
  store.codes_ = codes;
  store.ids_ = nullptr;
  store.next_id_ = static_cast<idx_t>(info.ntotal);  // identity ids 0..n-1
  if (file->has_section(kSectionIds)) {
    const uint8_t* ids = file->section(kSectionIds, &bytes);
    if (bytes % sizeof(idx_t) != 0 || bytes / sizeof(idx_t) != info.ntotal)
      throw FormatError(bad + "id block has " + std::to_string(bytes) + " bytes for " + std::to_string(info.ntotal) +
                        " codes");
    if (reinterpret_cast<uintptr_t>(ids) % alignof(idx_t) != 0) throw FormatError("index file: misaligned ids");
    store.ids_ = reinterpret_cast<const idx_t*>(ids);
    store.next_id_ = 0;
    store.ids_increasing_ = true;
    for (size_t i = 0; i < info.ntotal; ++i) {
      // -1 pads results: a stored -1 would be a hit that reads as "no hit".
      if (store.ids_[i] < 0)
        throw FormatError(bad + "id " + std::to_string(store.ids_[i]) + " at position " + std::to_string(i) +
                          " is negative (ids must be >= 0; -1 marks padding in results)");
      store.next_id_ = std::max(store.next_id_, after(store.ids_[i]));
      if (i > 0 && store.ids_[i] <= store.ids_[i - 1]) store.ids_increasing_ = false;
    }
  }
  if (file->has_section(kSectionStoreMeta)) {  // absent in files of older builds: keep max id + 1
    uint64_t meta[2];
    const uint8_t* raw = file->section(kSectionStoreMeta, &bytes);
    if (bytes != sizeof(meta)) throw FormatError(bad + "bad store metadata size " + std::to_string(bytes));
    std::memcpy(meta, raw, sizeof(meta));
    if (meta[0] != kStoreMetaVersion) throw FormatError(bad + "unknown store metadata version");
    const idx_t next = static_cast<idx_t>(meta[1]);
    if (next < store.next_id_)  // would reissue an id in use
      throw FormatError(bad + "next id " + std::to_string(next) + " is below " + std::to_string(store.next_id_));
    store.next_id_ = next;
  }
  const std::array<uint64_t, 2> words = meta_words_for(store.next_id_);
  std::copy(words.begin(), words.end(), store.meta_words_);
  // Mapped or read, the codes stay in the file's bytes until the first add or
  // remove copies them (a read file's copy would double the memory of a load:
  // a 10^9-code MIH file is 17.5 GB).
  store.file_ = file;
  return store;
}

}  // namespace nash_index
