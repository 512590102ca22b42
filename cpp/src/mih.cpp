// MultiIndexHashing: table lifecycle (build, growth, removal). Its files are
// in mih_file.cpp; the query side in mih_search.cpp and mih_probe.cpp.
#include "nash_index/mih.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "code_store.hpp"
#include "mih_probe.hpp"
#include "mih_tables.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

const RegisterKind<MultiIndexHashing> registered("mih", &MultiIndexHashing::create);

// The tail is scanned by every query: the tables are rebuilt once it passes
// 1/16 of the indexed codes (a query then pays at most ~6% of a flat scan for
// it, and n adds of one code cost O(n) rebuilds of geometrically growing size,
// O(n log n) overall), or 256 codes on a small index.
constexpr size_t kTailFraction = 16;
constexpr size_t kMinTailRebuild = 256;
// Past kMinDeltaBase indexed codes, a tail of 1/16 (at most max_tail() codes,
// so that its scan stays well under a millisecond) becomes a segment of its
// own: tables over the tail only, O(tail) to build, probed after the main
// segment's. At kMaxSegments the deltas merge into one; once the deltas hold
// half as many codes as the main segment, everything is rebuilt as one.
constexpr size_t kMinDeltaBase = 4096;
std::atomic<size_t> g_max_tail{size_t{1} << 20};

// Removed codes left in the tables are skipped at a cost (a rank per candidate
// met, buckets padded with dead entries): past 1/8 of the tables they rebuild.
constexpr size_t kTombstoneFraction = 8;

int min_m(int nbits) { return (nbits + kMaxSubstringBits - 1) / kMaxSubstringBits; }

void check_m(int nbits, int m) {
  require(m >= 0, "m must be >= 0 (0 = automatic), got " + std::to_string(m));
  if (m > 0) SubstringLayout(nbits, m);  // throws with a clear message on a bad split
}

}  // namespace

std::string mih_params_error(const MihParams& p) {
  const int fallback = static_cast<int>(p.fallback);
  if (fallback < 0 || static_cast<size_t>(fallback) >= scan_fallback_names().size())
    return "bad MIH fallback mode " + std::to_string(fallback);
  for (const double cost : {p.probe_cost, p.scan_cost_single, p.scan_cost_batch})
    if (!std::isfinite(cost) || cost < 0) return "MIH cost parameters must be finite and >= 0";
  return "";
}

namespace {

std::unique_ptr<MultiIndexHashing::Tables> build_tables_over(const CodeStore& store, int m, int max_key_bits) {
  return build_tables(store.codes(), store.code_size(), store.size(), SubstringLayout(store.nbits(), m), max_key_bits);
}

void check_max_key_bits(int bits) {
  require(bits >= 0 && bits <= kMaxSubstringBits,
          "max_key_bits must be between 1 and 32 (0 = the whole substring), got " + std::to_string(bits));
}

}  // namespace

const std::vector<std::string>& scan_fallback_names() {
  static const std::vector<std::string> names{"auto", "never", "always"};  // ScanFallback's order
  return names;
}

const std::string& scan_fallback_name(ScanFallback fallback) {
  return scan_fallback_names().at(static_cast<size_t>(fallback));
}

ScanFallback parse_scan_fallback(const std::string& name) {
  const std::vector<std::string>& names = scan_fallback_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<ScanFallback>(i);
  std::string choices;
  for (const std::string& n : names) choices += (choices.empty() ? "('" : ", '") + n + "'";
  throw std::invalid_argument("fallback must be one of " + choices + "), got '" + name + "'");
}

size_t MultiIndexHashing::max_tail() { return g_max_tail.load(); }
void MultiIndexHashing::set_max_tail(size_t codes) { g_max_tail.store(codes); }

int MultiIndexHashing::auto_m(int nbits, size_t n) {
  // Small indexes count as 256 codes: substrings of at least 8 bits.
  const double log_n = std::log2(static_cast<double>(std::max<size_t>(n, 256)));
  const int m = static_cast<int>(std::lround(nbits / log_n));
  return std::max(min_m(nbits), std::min(m, nbits));
}

MultiIndexHashing::MultiIndexHashing(int nbits, int m, int max_key_bits)
    : CodeIndex(nbits), m_requested_(m), max_key_bits_(max_key_bits) {
  check_settings(nbits, m, max_key_bits);
  rebuild(target_m());
}

void MultiIndexHashing::require_room(size_t count, size_t more) {
  require(more <= kMaxCodes - count, "MultiIndexHashing holds at most 2^32 - 1 codes (uint32 positions)");
}

void MultiIndexHashing::check_settings(int nbits, int m, int max_key_bits) {
  check_m(nbits, m);
  check_max_key_bits(max_key_bits);
}

std::unique_ptr<CodeIndex> MultiIndexHashing::create(int nbits, IndexOptions& options) {
  const int m = options.take_int("m", 0);
  return std::make_unique<MultiIndexHashing>(nbits, m, options.take_int("max_key_bits", 0));
}

MultiIndexHashing::~MultiIndexHashing() = default;
MultiIndexHashing::Rebuild::Rebuild() = default;
MultiIndexHashing::Rebuild::~Rebuild() = default;

MultiIndexHashing::MultiIndexHashing(const std::shared_ptr<IndexFile>& file, int m_requested, int max_key_bits)
    : CodeIndex(file, kMaxCodes), m_requested_(m_requested), max_key_bits_(max_key_bits) {}

int MultiIndexHashing::m() const { return segments_.front()->layout.m(); }
int MultiIndexHashing::substring_bits(int j) const { return segments_.front()->layout.length(j); }

size_t MultiIndexHashing::tombstones() const {
  size_t total = 0;
  for (const auto& t : segments_) total += t->dead.count();
  return total;
}

size_t MultiIndexHashing::table_bytes() const {
  size_t total = 0;
  for (const auto& t : segments_) total += t->dead.memory_bytes() + t->blob_bytes;
  return total;
}

MihParams MultiIndexHashing::params() const { return params_; }

void MultiIndexHashing::set_params(const MihParams& p) {
  const std::string error = mih_params_error(p);
  require(error.empty(), error);
  params_ = p;
}

int MultiIndexHashing::target_m() const {
  return m_requested_ > 0 ? m_requested_ : auto_m(nbits(), store_->size());
}

void MultiIndexHashing::rebuild(int m) { install(*build_aside(m)); }  // same version: always taken

bool MultiIndexHashing::tail_too_long() const {
  const size_t tail = store_->size() - indexed_;
  const size_t limit = std::max<size_t>(kMinTailRebuild, std::min(g_max_tail.load(), indexed_ / kTailFraction));
  return tail > 0 && (indexed_ == 0 || tail > limit);
}

bool MultiIndexHashing::too_many_tombstones() const {
  size_t positions = 0;
  for (const auto& t : segments_) positions += t->positions;
  return tombstones() * kTombstoneFraction > positions;
}

bool MultiIndexHashing::needs_rebuild() const { return tail_too_long() || too_many_tombstones(); }

// Live codes of segment s (its store positions follow those of the segments before it).
size_t MultiIndexHashing::Tables::live() const { return positions - dead.count(); }

// The store position where the delta segments start (the main one's live codes end).
size_t MultiIndexHashing::delta_start() const { return segments_.front()->live(); }

// The deltas to build next: 0 (none: rebuild everything), 1 (a new delta over
// the tail) or 2 (every delta and the tail merged into one new delta).
int MultiIndexHashing::delta_plan() const {
  if (too_many_tombstones() || target_m() != m() || indexed_ < kMinDeltaBase) return 0;
  const size_t main_live = delta_start();
  if (2 * (store_->size() - main_live) > main_live) return 0;
  return segments_.size() < kMaxSegments ? 1 : 2;
}

std::unique_ptr<MultiIndexHashing::Rebuild> MultiIndexHashing::build_aside(int m) const {
  auto built = std::make_unique<Rebuild>();
  built->version = version_;
  built->indexed = store_->size();
  built->tables = build_tables_over(*store_, m, max_key_bits_);
  return built;
}

std::unique_ptr<MultiIndexHashing::Rebuild> MultiIndexHashing::prepare_rebuild() const {
  const int plan = tail_too_long() ? delta_plan() : 0;
  if (plan == 0) return build_aside(target_m());
  auto built = std::make_unique<Rebuild>();
  built->version = version_;
  built->indexed = store_->size();
  built->first_segment = plan == 1 ? segments_.size() : 1;
  const size_t from = plan == 1 ? indexed_ : delta_start();
  const size_t cs = store_->code_size();
  built->tables = build_tables(store_->codes() + from * cs, cs, built->indexed - from, segments_.front()->layout,
                               max_key_bits_);
  return built;
}

bool MultiIndexHashing::install(Rebuild& built) {
  if (!built.tables || built.version != version_ || built.indexed > store_->size()) return false;
  // Segments [first_segment, end) are replaced by the new one (all of them for a full rebuild).
  std::vector<std::unique_ptr<Tables>> kept;
  for (size_t s = built.first_segment; s < segments_.size(); ++s) kept.push_back(std::move(segments_[s]));
  segments_.resize(built.first_segment);
  segments_.push_back(std::move(built.tables));
  built.replaced = std::move(kept);  // freed by the caller, after its lock
  indexed_ = built.indexed;
  ++version_;
  std::lock_guard<std::mutex> lock(scratch_mutex_);
  scratch_pool_.clear();  // bitmaps were sized for the old count
  return true;
}

void MultiIndexHashing::request_m(int m) {
  if (m < 0) return;
  check_m(nbits(), m);
  m_requested_ = m;
  ++version_;
}

std::unique_ptr<CodeIndex::Upkeep> MultiIndexHashing::prepare_upkeep(bool force) const {
  if (!force && !needs_rebuild()) return nullptr;
  return prepare_rebuild();
}

bool MultiIndexHashing::install_upkeep(Upkeep& prepared) { return install(static_cast<Rebuild&>(prepared)); }


void MultiIndexHashing::add(const uint8_t* codes, size_t n, const idx_t* ids) {
  require_room(store_->size(), n);
  store_->add(codes, n, ids);
}

size_t MultiIndexHashing::remove(const idx_t* ids, size_t n) {
  const std::vector<size_t> doomed = store_->positions_of(ids, n);
  if (doomed.empty()) return 0;
  // Table positions of the doomed indexed codes per segment, all found before
  // any is marked (marking shifts the ranks). Doomed positions are sorted.
  std::vector<std::vector<uint32_t>> in_tables(segments_.size());
  size_t seg = 0, start = 0, removed = 0;
  for (const size_t pos : doomed) {
    if (pos >= indexed_) break;  // the tail: only in the store
    while (pos >= start + segments_[seg]->live()) start += segments_[seg++]->live();
    in_tables[seg].push_back(segments_[seg]->dead.select_live(pos - start));
    ++removed;
  }
  for (size_t s = 0; s < segments_.size(); ++s) segments_[s]->dead.mark(in_tables[s]);
  indexed_ -= removed;
  store_->erase_positions(doomed);
  ++version_;
  return doomed.size();
}

void MultiIndexHashing::reset() {
  store_->reset();
  rebuild(target_m());
}

void MultiIndexHashing::optimize(int m) {
  request_m(m);
  rebuild(target_m());
}

}  // namespace nash_index
