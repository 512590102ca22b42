// MultiIndexHashing: table lifecycle (build, growth, removal), persistence.
// The query side lives in mih_search.cpp and mih_probe.cpp.
#include "nash_index/mih.hpp"

#include <algorithm>
#include <cmath>

#include "code_store.hpp"
#include "mih_probe.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr uint32_t kMihMetaVersion = 1;
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

std::vector<SectionData> sections_of(const CodeStore& store, const std::vector<uint32_t>& meta) {
  std::vector<SectionData> out = store.sections();
  out.push_back({kSectionMihMeta, meta.data(), meta.size() * sizeof(uint32_t)});
  return out;
}

int min_m(int nbits) { return (nbits + kMaxSubstringBits - 1) / kMaxSubstringBits; }

void check_m(int nbits, int m) {
  require(m >= 0, "m must be >= 0 (0 = automatic), got " + std::to_string(m));
  if (m > 0) SubstringLayout(nbits, m);  // throws with a clear message on a bad split
}

}  // namespace

int MultiIndexHashing::auto_m(int nbits, size_t n) {
  // Small indexes count as 256 codes: substrings of at least 8 bits.
  const double log_n = std::log2(static_cast<double>(std::max<size_t>(n, 256)));
  const int m = static_cast<int>(std::lround(nbits / log_n));
  return std::max(min_m(nbits), std::min(m, nbits));
}

MultiIndexHashing::MultiIndexHashing(int nbits, int m)
    : CodeIndex(std::make_unique<CodeStore>(nbits)), m_requested_(m), tables_(std::make_unique<Tables>()) {
  check_m(nbits, m);
  rebuild();
}

MultiIndexHashing::~MultiIndexHashing() = default;

MultiIndexHashing::MultiIndexHashing(std::unique_ptr<CodeStore> store, int m_requested)
    : CodeIndex(std::move(store)), m_requested_(m_requested), tables_(std::make_unique<Tables>()) {}

int MultiIndexHashing::m() const { return tables_->layout.m(); }
int MultiIndexHashing::substring_bits(int j) const { return tables_->layout.length(j); }

size_t MultiIndexHashing::table_bytes() const {
  size_t total = 0;
  for (const BucketTable& t : tables_->by_substring) total += t.memory_bytes();
  return total;
}

MihParams MultiIndexHashing::params() const { return params_; }

void MultiIndexHashing::set_params(const MihParams& p) {
  require(p.probe_cost >= 0 && p.scan_cost_single >= 0 && p.scan_cost_batch >= 0,
          "MIH cost parameters must be >= 0");
  params_ = p;
}

void MultiIndexHashing::rebuild() {
  const int m = m_requested_ > 0 ? m_requested_ : auto_m(nbits(), store_->size());
  SubstringLayout& layout = tables_->layout;
  if (layout.m() != m) layout = SubstringLayout(nbits(), m);
  tables_->by_substring.assign(static_cast<size_t>(m), BucketTable());
  const uint8_t* codes = store_->codes();
  const size_t n = store_->size(), cs = store_->code_size();
  if (n > 0) {
    ThreadPool::global().parallel_for(static_cast<size_t>(m), 0, [&](size_t j) {
      tables_->by_substring[j].build(codes, cs, n, layout, static_cast<int>(j));
    });
  }
  indexed_ = n;
  std::lock_guard<std::mutex> lock(scratch_mutex_);
  scratch_pool_.clear();  // bitmaps were sized for the old count
}

bool MultiIndexHashing::tail_too_long() const {
  const size_t tail = store_->size() - indexed_;
  return tail > 0 && (indexed_ == 0 || tail > std::max<size_t>(kMinTailRebuild, indexed_ / kTailFraction));
}

void MultiIndexHashing::add(const uint8_t* codes, size_t n, const idx_t* ids) {
  require(store_->size() + n <= kMaxPositions,
          "MultiIndexHashing holds at most 2^32 - 1 codes (uint32 positions)");
  store_->add(codes, n, ids);
  if (tail_too_long()) rebuild();
}

size_t MultiIndexHashing::remove(const idx_t* ids, size_t n) {
  const size_t removed = store_->remove(ids, n);
  if (removed > 0) rebuild();  // positions shifted
  return removed;
}

void MultiIndexHashing::reset() {
  store_->reset();
  rebuild();
}

void MultiIndexHashing::optimize(int m) {
  if (m >= 0) {
    check_m(nbits(), m);
    m_requested_ = m;
  }
  rebuild();
}

std::vector<uint32_t> MultiIndexHashing::meta() const {
  return {kMihMetaVersion, static_cast<uint32_t>(m_requested_), static_cast<uint32_t>(m()), 0};
}

void MultiIndexHashing::save(const std::string& path) const {
  const std::vector<uint32_t> meta_words = meta();
  write_index_file(path, header_of(*store_), sections_of(*store_, meta_words));
}

std::vector<uint8_t> MultiIndexHashing::serialize() const {
  const std::vector<uint32_t> meta_words = meta();
  return serialize_index(header_of(*store_), sections_of(*store_, meta_words));
}

// Tables are rebuilt rather than stored: building is a counting sort per
// substring, about as fast as reading the same bytes back (see bench_mih.py).
std::unique_ptr<MultiIndexHashing> MultiIndexHashing::load(const std::shared_ptr<IndexFile>& file) {
  if (file->info().kind != IndexKind::MultiIndexHashing)
    throw FormatError("index file does not hold a MultiIndexHashing index");
  uint64_t bytes = 0;
  const uint8_t* raw = file->section(kSectionMihMeta, &bytes);
  uint32_t meta[4];
  if (bytes != sizeof(meta)) throw FormatError("index file: bad multi-index metadata size");
  std::copy(raw, raw + sizeof(meta), reinterpret_cast<uint8_t*>(meta));
  if (meta[0] != kMihMetaVersion) throw FormatError("index file: unknown multi-index metadata version");
  const int nbits = static_cast<int>(file->info().nbits);
  const int requested = static_cast<int>(meta[1]), in_use = static_cast<int>(meta[2]);
  try {
    check_m(nbits, requested);
    check_m(nbits, in_use);
  } catch (const std::invalid_argument& e) {
    throw FormatError(std::string("index file: bad multi-index metadata: ") + e.what());
  }
  if (in_use == 0) throw FormatError("index file: bad multi-index metadata: m = 0");
  std::unique_ptr<MultiIndexHashing> index(new MultiIndexHashing(std::make_unique<CodeStore>(CodeStore::from_file(file, kMaxPositions)), requested));
  // Keep the saved split: the same tables as before saving.
  const int saved_request = index->m_requested_;
  index->m_requested_ = in_use;
  index->rebuild();
  index->m_requested_ = saved_request;
  return index;
}

}  // namespace nash_index
