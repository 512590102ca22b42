// MultiIndexHashing: table lifecycle (build, growth, removal), persistence.
// The query side lives in mih_search.cpp and mih_probe.cpp.
#include "nash_index/mih.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "code_store.hpp"
#include "mih_probe.hpp"
#include "mih_tables.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr uint32_t kMihMetaVersion = 2;  // see meta()
constexpr size_t kMaxPositions = 0xFFFFFFFFu;  // tables hold uint32 positions
// The tail is scanned by every query: the tables are rebuilt once it passes
// 1/16 of the indexed codes (a query then pays at most ~6% of a flat scan for
// it, and n adds of one code cost O(n) rebuilds of geometrically growing size,
// O(n log n) overall), or 256 codes on a small index.
constexpr size_t kTailFraction = 16;
constexpr size_t kMinTailRebuild = 256;

IndexHeaderInfo header_of(const CodeStore& store) {
  return {IndexKind::MultiIndexHashing, static_cast<uint32_t>(store.nbits()), store.size(), 0};
}

// The tables are saved while they hold no tombstones (their positions are
// then store positions): a mapped load serves them as they are. Otherwise
// load rebuilds them, as it does for files of older builds.
std::vector<SectionData> sections_of(const CodeStore& store, const std::vector<uint32_t>& meta,
                                     const MultiIndexHashing::Tables& tables) {
  std::vector<SectionData> out = store.sections();
  out.push_back({kSectionMihMeta, meta.data(), meta.size() * sizeof(uint32_t)});
  if (tables.dead.count() == 0 && tables.blob) out.push_back({kSectionMihTables, tables.blob, tables.blob_bytes});
  return out;
}

// Removed codes left in the tables are skipped at a cost (a rank per candidate
// met, buckets padded with dead entries): past 1/8 of the tables they rebuild.
constexpr size_t kTombstoneFraction = 8;

int min_m(int nbits) { return (nbits + kMaxSubstringBits - 1) / kMaxSubstringBits; }

void check_m(int nbits, int m) {
  require(m >= 0, "m must be >= 0 (0 = automatic), got " + std::to_string(m));
  if (m > 0) SubstringLayout(nbits, m);  // throws with a clear message on a bad split
}

// The error in a set of fallback parameters, or "" (they are saved, so they must be finite).
std::string params_error(const MihParams& p) {
  const int fallback = static_cast<int>(p.fallback);
  if (fallback < 0 || fallback > 2) return "bad MIH fallback mode " + std::to_string(fallback);
  for (const double cost : {p.probe_cost, p.scan_cost_single, p.scan_cost_batch})
    if (!std::isfinite(cost) || cost < 0) return "MIH cost parameters must be finite and >= 0";
  return "";
}

std::unique_ptr<MultiIndexHashing::Tables> build_tables_over(const CodeStore& store, int m, int max_key_bits) {
  return build_tables(store.codes(), store.code_size(), store.size(), SubstringLayout(store.nbits(), m), max_key_bits);
}

void check_max_key_bits(int bits) {
  require(bits >= 0 && bits <= kMaxSubstringBits,
          "max_key_bits must be between 1 and 32 (0 = the whole substring), got " + std::to_string(bits));
}

}  // namespace

int MultiIndexHashing::auto_m(int nbits, size_t n) {
  // Small indexes count as 256 codes: substrings of at least 8 bits.
  const double log_n = std::log2(static_cast<double>(std::max<size_t>(n, 256)));
  const int m = static_cast<int>(std::lround(nbits / log_n));
  return std::max(min_m(nbits), std::min(m, nbits));
}

MultiIndexHashing::MultiIndexHashing(int nbits, int m, int max_key_bits)
    : CodeIndex(std::make_unique<CodeStore>(nbits)), m_requested_(m), max_key_bits_(max_key_bits),
      tables_(std::make_unique<Tables>()) {
  check_m(nbits, m);
  check_max_key_bits(max_key_bits);
  rebuild(target_m());
}

MultiIndexHashing::~MultiIndexHashing() = default;
MultiIndexHashing::Rebuild::Rebuild() = default;
MultiIndexHashing::Rebuild::~Rebuild() = default;

MultiIndexHashing::MultiIndexHashing(std::unique_ptr<CodeStore> store, int m_requested, int max_key_bits)
    : CodeIndex(std::move(store)), m_requested_(m_requested), max_key_bits_(max_key_bits),
      tables_(std::make_unique<Tables>()) {}

int MultiIndexHashing::m() const { return tables_->layout.m(); }
int MultiIndexHashing::substring_bits(int j) const { return tables_->layout.length(j); }
size_t MultiIndexHashing::tombstones() const { return tables_->dead.count(); }

size_t MultiIndexHashing::table_bytes() const { return tables_->dead.memory_bytes() + tables_->blob_bytes; }

MihParams MultiIndexHashing::params() const { return params_; }

void MultiIndexHashing::set_params(const MihParams& p) {
  const std::string error = params_error(p);
  require(error.empty(), error);
  params_ = p;
}

int MultiIndexHashing::target_m() const {
  return m_requested_ > 0 ? m_requested_ : auto_m(nbits(), store_->size());
}

void MultiIndexHashing::rebuild(int m) { install(*build_aside(m)); }  // same version: always taken

bool MultiIndexHashing::tail_too_long() const {
  const size_t tail = store_->size() - indexed_;
  return tail > 0 && (indexed_ == 0 || tail > std::max<size_t>(kMinTailRebuild, indexed_ / kTailFraction));
}

bool MultiIndexHashing::needs_rebuild() const {
  return tail_too_long() || tables_->dead.count() * kTombstoneFraction > tables_->positions;
}

std::unique_ptr<MultiIndexHashing::Rebuild> MultiIndexHashing::build_aside(int m) const {
  auto built = std::make_unique<Rebuild>();
  built->version = version_;
  built->indexed = store_->size();
  built->tables = build_tables_over(*store_, m, max_key_bits_);
  return built;
}

std::unique_ptr<MultiIndexHashing::Rebuild> MultiIndexHashing::prepare_rebuild() const {
  return build_aside(target_m());
}

bool MultiIndexHashing::install(Rebuild& built) {
  if (!built.tables || built.version != version_ || built.indexed > store_->size()) return false;
  std::swap(tables_, built.tables);
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

void MultiIndexHashing::maintain() {
  if (needs_rebuild()) rebuild(target_m());
}

void MultiIndexHashing::add(const uint8_t* codes, size_t n, const idx_t* ids) {
  require(store_->size() + n <= kMaxPositions,
          "MultiIndexHashing holds at most 2^32 - 1 codes (uint32 positions)");
  store_->add(codes, n, ids);
}

size_t MultiIndexHashing::remove(const idx_t* ids, size_t n) {
  const std::vector<size_t> doomed = store_->positions_of(ids, n);
  if (doomed.empty()) return 0;
  // Table positions of the doomed indexed codes, all found before any is
  // marked (marking shifts the ranks).
  std::vector<uint32_t> in_tables;
  for (const size_t pos : doomed) {
    if (pos >= indexed_) break;  // the tail: only in the store
    in_tables.push_back(tables_->dead.select_live(pos));
  }
  tables_->dead.mark(in_tables);
  indexed_ -= in_tables.size();
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

std::vector<uint32_t> mih_meta_words(int m_requested, int m_in_use, const MihParams& params, int max_key_bits) {
  std::vector<uint32_t> words{kMihMetaVersion, static_cast<uint32_t>(m_requested), static_cast<uint32_t>(m_in_use),
                              static_cast<uint32_t>(max_key_bits),
                              static_cast<uint32_t>(params.fallback), 0};
  for (const double cost : {params.probe_cost, params.scan_cost_single, params.scan_cost_batch}) {
    uint32_t pair[2];
    std::memcpy(pair, &cost, sizeof(cost));
    words.insert(words.end(), pair, pair + 2);
  }
  return words;
}

std::vector<uint32_t> MultiIndexHashing::meta() const {
  return mih_meta_words(m_requested_, m(), params_, max_key_bits_);
}

void MultiIndexHashing::save(const std::string& path) const {
  const std::vector<uint32_t> meta_words = meta();
  write_index_file(path, header_of(*store_), sections_of(*store_, meta_words, *tables_));
}

std::vector<uint8_t> MultiIndexHashing::serialize() const {
  const std::vector<uint32_t> meta_words = meta();
  return serialize_index(header_of(*store_), sections_of(*store_, meta_words, *tables_));
}

namespace {

constexpr size_t kMetaWordsV1 = 4, kMetaWordsV2 = 12;

// The fallback settings of a version 2 metadata section (words 4..11).
MihParams params_of(const uint32_t* words) {
  MihParams p;
  p.fallback = static_cast<ScanFallback>(words[4]);
  double costs[3];
  std::memcpy(costs, words + 6, sizeof(costs));
  p.probe_cost = costs[0];
  p.scan_cost_single = costs[1];
  p.scan_cost_batch = costs[2];
  return p;
}

}  // namespace

// Saved tables are used as they are (viewed in place when mapped); files
// without them (older builds, or saved with tombstones) are rebuilt.
std::unique_ptr<MultiIndexHashing> MultiIndexHashing::load(const std::shared_ptr<IndexFile>& file) {
  if (file->info().kind != IndexKind::MultiIndexHashing)
    throw FormatError("index file does not hold a MultiIndexHashing index");
  uint64_t bytes = 0;
  const uint8_t* raw = file->section(kSectionMihMeta, &bytes);
  uint32_t meta[kMetaWordsV2] = {};
  if (bytes < sizeof(uint32_t)) throw FormatError("index file: bad multi-index metadata size");
  std::memcpy(meta, raw, sizeof(uint32_t));
  const size_t words = meta[0] == 1 ? kMetaWordsV1 : meta[0] == 2 ? kMetaWordsV2 : 0;
  if (words == 0) throw FormatError("index file: unknown multi-index metadata version");
  if (bytes != words * sizeof(uint32_t)) throw FormatError("index file: bad multi-index metadata size");
  std::memcpy(meta, raw, bytes);
  const int nbits = static_cast<int>(file->info().nbits);
  const int requested = static_cast<int>(meta[1]), in_use = static_cast<int>(meta[2]);
  const int max_key_bits = static_cast<int>(meta[3]);  // 0 in files of builds without the cap
  try {
    check_m(nbits, requested);
    check_m(nbits, in_use);
    check_max_key_bits(max_key_bits);
  } catch (const std::invalid_argument& e) {
    throw FormatError(std::string("index file: bad multi-index metadata: ") + e.what());
  }
  if (in_use == 0) throw FormatError("index file: bad multi-index metadata: m = 0");
  const MihParams params = words == kMetaWordsV2 ? params_of(meta) : MihParams{};
  const std::string error = params_error(params);
  if (!error.empty()) throw FormatError("index file: bad multi-index metadata: " + error);
  std::unique_ptr<MultiIndexHashing> index(new MultiIndexHashing(
      std::make_unique<CodeStore>(CodeStore::from_file(file, kMaxPositions)), requested, max_key_bits));
  index->params_ = params;
  if (!file->has_section(kSectionMihTables)) {
    index->rebuild(in_use);  // the saved split: the same tables as before saving
    return index;
  }
  const uint8_t* blob = file->section(kSectionMihTables, &bytes);
  index->tables_ = tables_from_blob(file, blob, bytes, SubstringLayout(nbits, in_use), max_key_bits,
                                    index->store_->size());
  index->indexed_ = index->tables_->positions;
  return index;
}

}  // namespace nash_index
