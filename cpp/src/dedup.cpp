// DedupIndex: groups of identical codes (adds, removes, the id lists, files).
// Searches are in dedup_search.cpp.
#include "nash_index/dedup.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "code_lookup.hpp"
#include "file_sections.hpp"
#include "nash_index/flat_index.hpp"
#include "nash_index/mih.hpp"

namespace nash_index {
namespace {

constexpr uint64_t kDedupMetaVersion = 1;
constexpr idx_t kMaxId = std::numeric_limits<idx_t>::max();
constexpr size_t kMaxGroups = 0xFFFFFFFEu;  // lookup slots hold group + 1 in uint32

idx_t after(idx_t id) { return id == kMaxId ? kMaxId : id + 1; }

const bool registered = [] {
  register_kind({DedupIndex::kTagFlat, "flat_dedup", &DedupIndex::create_flat, &DedupIndex::load});
  register_kind({DedupIndex::kTagMih, "mih_dedup", &DedupIndex::create_mih, &DedupIndex::load});
  return true;
}();

}  // namespace

struct DedupIndex::InnerUpkeep : CodeIndex::Upkeep {
  std::unique_ptr<Upkeep> inner;
  uint64_t generation = 0;
};

DedupIndex::DedupIndex(int nbits) : CodeIndex(nbits), lookup_(std::make_unique<CodeLookup>(code_size())) {
  offsets_ = owned_offsets_.data();
}
DedupIndex::DedupIndex(int nbits, std::unique_ptr<CodeIndex> inner) : DedupIndex(nbits) {
  require(inner && inner->nbits() == nbits && inner->ntotal() == 0, "DedupIndex needs an empty inner index");
  inner_ = std::move(inner);
}
DedupIndex::~DedupIndex() = default;

std::unique_ptr<CodeIndex> DedupIndex::create_flat(int nbits, IndexOptions&) {
  return std::make_unique<DedupIndex>(nbits, std::make_unique<FlatIndex>(nbits));
}

std::unique_ptr<CodeIndex> DedupIndex::create_mih(int nbits, IndexOptions& options) {
  return std::make_unique<DedupIndex>(nbits, MultiIndexHashing::create(nbits, options));
}

uint32_t DedupIndex::kind() const { return inner_->kind() == MultiIndexHashing::kTag ? kTagMih : kTagFlat; }
bool DedupIndex::is_mapped() const { return file_ != nullptr || inner_->is_mapped(); }

std::unique_ptr<CodeIndex> DedupIndex::empty_inner() const {
  if (const auto* mih = dynamic_cast<const MultiIndexHashing*>(inner_.get())) {
    auto fresh = std::make_unique<MultiIndexHashing>(nbits(), mih->m_is_auto() ? 0 : mih->m(), mih->max_key_bits());
    fresh->set_params(mih->params());
    return fresh;
  }
  return std::make_unique<FlatIndex>(nbits());
}

void DedupIndex::set_lists(std::vector<uint64_t> offsets, std::vector<idx_t> ids, size_t groups) {
  owned_offsets_ = std::move(offsets);
  owned_ids_ = std::move(ids);
  offsets_ = owned_offsets_.data();
  ids_ = owned_ids_.data();
  groups_ = groups;
  file_.reset();
  codes_cache_.clear();
  codes_cache_.shrink_to_fit();
  codes_cached_ = false;
}

// Like CodeStore's: only ids that do not continue strictly after every id so far need a look.
void DedupIndex::check_new_ids(const idx_t* ids, size_t n) const {
  for (size_t i = 0; i < n; ++i)
    if (ids[i] < 0)
      throw std::invalid_argument("ids must be >= 0, got " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(i));
  bool increasing = ids[0] >= next_id_ || ntotal() == 0;
  for (size_t i = 1; increasing && i < n; ++i) increasing = ids[i] > ids[i - 1];
  if (increasing) return;
  std::vector<idx_t> fresh(ids, ids + n);
  std::sort(fresh.begin(), fresh.end());
  const auto dup = std::adjacent_find(fresh.begin(), fresh.end());
  if (dup != fresh.end()) throw std::invalid_argument("ids must be unique; id " + std::to_string(*dup) + " is repeated");
  for (size_t i = 0; i < ntotal(); ++i)
    if (std::binary_search(fresh.begin(), fresh.end(), ids_[i]))
      throw std::invalid_argument("ids must be unique; id " + std::to_string(ids_[i]) + " is repeated");
}

void DedupIndex::rebuild_lookup() {
  const uint8_t* inner_codes = inner_->codes();
  const size_t cs = code_size();
  lookup_->rebuild(groups_, [&](size_t g) { return inner_codes + g * cs; });
}

// The group of each code; codes of new groups go to `fresh` (groups_, groups_ + 1, ...).
// The lookup learns them at once: a caller that fails later calls rebuild_lookup.
std::vector<uint32_t> DedupIndex::groups_of(const uint8_t* codes, size_t n, std::vector<uint8_t>& fresh) {
  const size_t cs = code_size();
  const uint8_t* inner_codes = inner_->codes();
  auto code_of = [&](size_t g) { return g < groups_ ? inner_codes + g * cs : fresh.data() + (g - groups_) * cs; };
  std::vector<uint32_t> of(n);
  size_t total = groups_;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * cs;
    uint32_t g = lookup_->find(code, code_of, total);
    if (g == CodeLookup::kAbsent) {
      require(total < kMaxGroups, "a dedup index holds at most " + std::to_string(kMaxGroups) + " distinct codes");
      fresh.insert(fresh.end(), code, code + cs);
      g = static_cast<uint32_t>(total++);
      lookup_->insert(code, g, code_of);
    }
    of[i] = g;
  }
  return of;
}

void DedupIndex::add(const uint8_t* codes, size_t n, const idx_t* ids) {
  if (n == 0) return;
  if (ids) check_new_ids(ids, n);
  require(ids || static_cast<uint64_t>(n) <= static_cast<uint64_t>(kMaxId - next_id_),
          "no default ids left after id " + std::to_string(next_id_) + "; pass ids explicitly");
  // Nothing changes until every allocation has succeeded (the new groups enter the inner index last).
  try {
    add_grouped(codes, n, ids);
  } catch (...) {
    rebuild_lookup();
    throw;
  }
}

void DedupIndex::add_grouped(const uint8_t* codes, size_t n, const idx_t* ids) {
  std::vector<uint8_t> fresh;
  const std::vector<uint32_t> of = groups_of(codes, n, fresh);
  const size_t groups = groups_ + fresh.size() / code_size();
  std::vector<uint64_t> offsets(groups + 1, 0);
  for (size_t g = 0; g < groups_; ++g) offsets[g + 1] = group_size(g);
  size_t revived = 0;
  for (size_t i = 0; i < n; ++i) {
    revived += of[i] < groups_ && offsets[of[i] + 1] == 0;  // a dead group's first new id
    ++offsets[of[i] + 1];
  }
  for (size_t g = 0; g < groups; ++g) offsets[g + 1] += offsets[g];
  std::vector<idx_t> out(offsets[groups]);
  std::vector<uint64_t> fill(offsets.begin(), offsets.end() - 1);
  for (size_t g = 0; g < groups_; ++g) {
    std::copy(group_ids(g), group_ids(g) + group_size(g), out.begin() + fill[g]);
    fill[g] += group_size(g);
  }
  std::vector<uint8_t> touched(groups, 0);
  for (size_t i = 0; i < n; ++i) {
    const idx_t id = ids ? ids[i] : next_id_ + static_cast<idx_t>(i);
    out[fill[of[i]]++] = id;
    touched[of[i]] = 1;
  }
  for (size_t g = 0; g < groups; ++g)  // appended ids usually follow the old ones: sort only when not
    if (touched[g] && !std::is_sorted(out.begin() + offsets[g], out.begin() + offsets[g + 1]))
      std::sort(out.begin() + offsets[g], out.begin() + offsets[g + 1]);
  if (!fresh.empty()) inner_->add(fresh.data(), fresh.size() / code_size(), nullptr);  // inner ids = groups
  dead_ -= revived;
  if (ids) {
    for (size_t i = 0; i < n; ++i) next_id_ = std::max(next_id_, after(ids[i]));
  } else {
    next_id_ += static_cast<idx_t>(n);
  }
  set_lists(std::move(offsets), std::move(out), groups);
}

size_t DedupIndex::remove(const idx_t* ids, size_t n) {
  if (n == 0 || ntotal() == 0) return 0;
  std::vector<idx_t> doomed(ids, ids + n);
  std::sort(doomed.begin(), doomed.end());
  doomed.erase(std::unique(doomed.begin(), doomed.end()), doomed.end());
  auto is_doomed = [&](idx_t id) {
    return id >= doomed.front() && id <= doomed.back() && std::binary_search(doomed.begin(), doomed.end(), id);
  };
  size_t removed = 0;
  for (size_t i = 0; i < ntotal(); ++i) removed += is_doomed(ids_[i]);
  if (removed == 0) return 0;
  std::vector<uint64_t> offsets(groups_ + 1, 0);
  std::vector<idx_t> kept;
  kept.reserve(ntotal() - removed);
  size_t dead = 0;
  for (size_t g = 0; g < groups_; ++g) {
    for (const idx_t* id = group_ids(g); id != group_ids(g) + group_size(g); ++id)
      if (!is_doomed(*id)) kept.push_back(*id);
    offsets[g + 1] = kept.size();
    dead += offsets[g + 1] == offsets[g];
  }
  dead_ = dead;
  set_lists(std::move(offsets), std::move(kept), groups_);
  if (8 * dead_ > groups_) compact();
  return removed;
}

// A new inner index over the live groups only (group numbers change).
void DedupIndex::compact() {
  const size_t cs = code_size();
  const uint8_t* inner_codes = inner_->codes();
  std::vector<uint8_t> live;
  std::vector<uint64_t> offsets{0};
  for (size_t g = 0; g < groups_; ++g)
    if (group_size(g) > 0) {
      live.insert(live.end(), inner_codes + g * cs, inner_codes + (g + 1) * cs);
      offsets.push_back(offsets.back() + group_size(g));
    }
  std::unique_ptr<CodeIndex> fresh = empty_inner();
  fresh->add(live.data(), live.size() / cs, nullptr);
  std::vector<idx_t> ids(ids_, ids_ + ntotal());  // dead groups hold no ids: the order is unchanged
  inner_ = std::move(fresh);
  ++generation_;
  dead_ = 0;
  set_lists(std::move(offsets), std::move(ids), live.size() / cs);
  rebuild_lookup();
}

void DedupIndex::reset() {
  inner_ = empty_inner();
  ++generation_;
  dead_ = 0;
  next_id_ = 0;
  set_lists({0}, {}, 0);
  rebuild_lookup();
}

const uint8_t* DedupIndex::codes() const {
  std::lock_guard<std::mutex> lock(codes_mutex_);
  if (!codes_cached_) {
    const size_t cs = code_size();
    const uint8_t* inner_codes = inner_->codes();
    codes_cache_.resize(ntotal() * cs);
    for (size_t g = 0; g < groups_; ++g)
      for (uint64_t pos = offsets_[g]; pos < offsets_[g + 1]; ++pos)
        std::memcpy(codes_cache_.data() + pos * cs, inner_codes + g * cs, cs);
    codes_cached_ = true;
  }
  return codes_cache_.data();
}

std::vector<idx_t> DedupIndex::ids() const { return std::vector<idx_t>(ids_, ids_ + ntotal()); }

bool DedupIndex::reconstruct(idx_t id, uint8_t* out) const {
  const idx_t* end = ids_ + ntotal();
  const idx_t* at = std::find(ids_, end, id);
  if (at == end) return false;
  const uint64_t pos = static_cast<uint64_t>(at - ids_);
  const size_t g = static_cast<size_t>(std::upper_bound(offsets_, offsets_ + groups_ + 1, pos) - offsets_) - 1;
  std::memcpy(out, inner_->codes() + g * code_size(), code_size());
  return true;
}

std::unique_ptr<CodeIndex::Upkeep> DedupIndex::prepare_upkeep(bool force) const {
  std::unique_ptr<Upkeep> inner = inner_->prepare_upkeep(force);
  if (!inner) return nullptr;
  auto prepared = std::make_unique<InnerUpkeep>();
  prepared->inner = std::move(inner);
  prepared->generation = generation_;
  return prepared;
}

bool DedupIndex::install_upkeep(Upkeep& prepared) {
  auto& mine = dynamic_cast<InnerUpkeep&>(prepared);
  return mine.generation == generation_ && inner_->install_upkeep(*mine.inner);
}

void DedupIndex::add_sections(FileSections& out) const {
  inner_->add_sections(out);
  out.add_owned<uint64_t>(kSectionDedupMeta, {kDedupMetaVersion, inner_->kind(), groups_, dead_,
                                              static_cast<uint64_t>(next_id_)});
  out.add(kSectionDedupOffsets, offsets_, (groups_ + 1) * sizeof(uint64_t));
  out.add(kSectionDedupIds, ids_, ntotal() * sizeof(idx_t));
  out.add(kSectionDedupLookup, lookup_->data(), lookup_->size() * sizeof(uint32_t));
}

std::unique_ptr<CodeIndex> DedupIndex::load(const std::shared_ptr<IndexFile>& file) {
  const IndexHeaderInfo& info = file->info();
  const std::string bad = "index file is inconsistent: ";
  uint64_t bytes = 0;
  const uint8_t* raw = file->section(kSectionDedupMeta, &bytes);
  uint64_t meta[5];
  if (bytes != sizeof(meta)) throw FormatError(bad + "bad dedup metadata size " + std::to_string(bytes));
  std::memcpy(meta, raw, sizeof(meta));
  if (meta[0] != kDedupMetaVersion) throw FormatError(bad + "unknown dedup metadata version");
  const uint32_t inner_tag = info.kind == kTagMih ? MultiIndexHashing::kTag : FlatIndex::kTag;
  if (meta[1] != inner_tag) throw FormatError(bad + "dedup inner kind " + std::to_string(meta[1]) + " does not match");
  if (meta[2] > kMaxGroups || meta[3] > meta[2] || meta[4] > static_cast<uint64_t>(kMaxId))
    throw FormatError(bad + "bad dedup metadata");
  if (file->has_section(kSectionIds)) throw FormatError(bad + "the distinct codes of a dedup index carry no ids");
  const auto view = IndexFile::view(file, {inner_tag, info.nbits, meta[2], 0});
  auto index = std::unique_ptr<DedupIndex>(new DedupIndex(static_cast<int>(info.nbits)));
  index->inner_ = load_index(view);
  index->groups_ = meta[2];
  index->dead_ = meta[3];
  index->next_id_ = static_cast<idx_t>(meta[4]);
  index->load_lists(file);
  return index;
}

// Every bound checked before use (the bytes may be crafted).
void DedupIndex::load_lists(const std::shared_ptr<IndexFile>& file) {
  const std::string bad = "index file is inconsistent: ";
  const uint64_t count = file->info().ntotal;
  uint64_t bytes = 0;
  const auto* offsets = reinterpret_cast<const uint64_t*>(file->section(kSectionDedupOffsets, &bytes));
  if (bytes != (groups_ + 1) * sizeof(uint64_t)) throw FormatError(bad + "dedup offsets do not match the groups");
  const auto* ids = reinterpret_cast<const idx_t*>(file->section(kSectionDedupIds, &bytes));
  if (bytes / sizeof(idx_t) != count || bytes % sizeof(idx_t) != 0)
    throw FormatError(bad + "dedup id block has " + std::to_string(bytes) + " bytes for " + std::to_string(count) +
                      " codes");
  if (offsets[0] != 0 || offsets[groups_] != count) throw FormatError(bad + "dedup offsets do not cover the ids");
  size_t dead = 0;
  for (size_t g = 0; g < groups_; ++g) {
    if (offsets[g + 1] < offsets[g] || offsets[g + 1] > count) throw FormatError(bad + "dedup offsets decrease");
    dead += offsets[g + 1] == offsets[g];
    for (uint64_t pos = offsets[g]; pos < offsets[g + 1]; ++pos) {
      if (ids[pos] < 0 || (ids[pos] >= next_id_ && next_id_ != kMaxId))
        throw FormatError(bad + "id " + std::to_string(ids[pos]) + " is negative or beyond the next default id");
      if (pos > offsets[g] && ids[pos] <= ids[pos - 1]) throw FormatError(bad + "a group's ids are not ascending");
    }
  }
  if (dead != dead_) throw FormatError(bad + "dedup dead group count does not match");
  if (inner_->ntotal() != groups_) throw FormatError(bad + "dedup groups do not match the distinct codes");
  if (file->is_mapped()) {
    offsets_ = offsets;
    ids_ = ids;
    file_ = file;
  } else {
    set_lists(std::vector<uint64_t>(offsets, offsets + groups_ + 1), std::vector<idx_t>(ids, ids + count), groups_);
  }
  load_lookup(file);
}

// The stored table when mapped (its slots are checked as they are read:
// see CodeLookup::find); rebuilt otherwise, or when the file has none.
void DedupIndex::load_lookup(const std::shared_ptr<IndexFile>& file) {
  if (!file->is_mapped() || !file->has_section(kSectionDedupLookup)) return rebuild_lookup();
  uint64_t bytes = 0;
  const auto* slots = reinterpret_cast<const uint32_t*>(file->section(kSectionDedupLookup, &bytes));
  const uint64_t nslots = bytes / sizeof(uint32_t);
  if (bytes % sizeof(uint32_t) != 0 || nslots < CodeLookup::kMinSlots || (nslots & (nslots - 1)) != 0 ||
      nslots < 2 * groups_)
    throw FormatError("index file is inconsistent: bad dedup lookup table of " + std::to_string(bytes) + " bytes");
  lookup_->borrow(slots, nslots, groups_);
}

}  // namespace nash_index
