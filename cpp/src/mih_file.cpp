// MultiIndexHashing's files: the one plan of their sections (save and the
// file builder write it, load reads it) and the metadata words.
#include <cstring>
#include <string>

#include "code_store.hpp"
#include "mih_tables.hpp"

namespace nash_index {
namespace {
constexpr uint32_t kMihMetaVersion = 2;  // see mih_meta_words (mih_tables.hpp)
}  // namespace

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

void add_mih_sections(FileSections& out, std::vector<uint32_t> meta, const uint8_t* tables, uint64_t table_bytes,
                      std::vector<uint64_t> deltas) {
  out.add_owned(kSectionMihMeta, std::move(meta));
  if (!tables) return;
  out.add(kSectionMihTables, tables, table_bytes);
  if (!deltas.empty()) out.add_owned(kSectionMihDeltas, std::move(deltas));
}

// The tables are saved while no segment holds tombstones (table positions
// are then store positions): the main segment's blob in one section, the
// deltas' blobs after a directory of their sizes in another, so a mapped load
// serves them as they are (builds that do not know the deltas section scan
// and re-index those codes as a tail). Otherwise load rebuilds the tables, as
// it does for files of older builds.
void MultiIndexHashing::add_sections(FileSections& out) const {
  CodeIndex::add_sections(out);
  for (const auto& t : segments_)
    if (t->dead.count() != 0 || !t->blob) return add_mih_sections(out, meta(), nullptr, 0, {});
  add_mih_sections(out, meta(), segments_.front()->blob, segments_.front()->blob_bytes, deltas_section());
}

// The deltas section's words: {1, count, bytes of each} then the blobs; empty without deltas.
std::vector<uint64_t> MultiIndexHashing::deltas_section() const {
  if (segments_.size() == 1) return {};
  std::vector<uint64_t> deltas{1, segments_.size() - 1};
  for (size_t s = 1; s < segments_.size(); ++s) deltas.push_back(segments_[s]->blob_bytes);
  for (size_t s = 1; s < segments_.size(); ++s) {
    const uint64_t* words = reinterpret_cast<const uint64_t*>(segments_[s]->blob);
    deltas.insert(deltas.end(), words, words + segments_[s]->blob_bytes / 8);
  }
  return deltas;
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
    check_settings(nbits, requested, max_key_bits);
    check_settings(nbits, in_use, max_key_bits);
  } catch (const std::invalid_argument& e) {
    throw FormatError(std::string("index file: bad multi-index metadata: ") + e.what());
  }
  if (in_use == 0) throw FormatError("index file: bad multi-index metadata: m = 0");
  const MihParams params = words == kMetaWordsV2 ? params_of(meta) : MihParams{};
  const std::string error = mih_params_error(params);
  if (!error.empty()) throw FormatError("index file: bad multi-index metadata: " + error);
  std::unique_ptr<MultiIndexHashing> index(new MultiIndexHashing(file, requested, max_key_bits));
  index->params_ = params;
  if (!file->has_section(kSectionMihTables)) {
    index->rebuild(in_use);  // the saved split: the same tables as before saving
    return index;
  }
  const SubstringLayout layout(nbits, in_use);
  const uint8_t* blob = file->section(kSectionMihTables, &bytes);
  index->segments_.push_back(tables_from_blob(file, blob, bytes, layout, max_key_bits, index->store_->size()));
  index->indexed_ = index->segments_.front()->positions;
  if (file->has_section(kSectionMihDeltas)) index->load_deltas(file, layout);
  return index;
}

// The deltas section: {version 1, count, bytes of each} then the blobs, each
// checked like the main one against the codes not yet covered.
void MultiIndexHashing::load_deltas(const std::shared_ptr<IndexFile>& file, const SubstringLayout& layout) {
  uint64_t bytes = 0;
  const uint8_t* raw = file->section(kSectionMihDeltas, &bytes);
  const std::string bad = "index file: bad multi-index delta tables: ";
  uint64_t head[2];
  if (bytes < sizeof(head)) throw FormatError(bad + "section too short");
  std::memcpy(head, raw, sizeof(head));
  if (head[0] != 1) throw FormatError(bad + "unknown version " + std::to_string(head[0]));
  if (head[1] == 0 || head[1] >= kMaxSegments || (bytes - 16) / 8 < head[1])
    throw FormatError(bad + "bad segment count " + std::to_string(head[1]));
  std::vector<uint64_t> sizes(head[1]);
  std::memcpy(sizes.data(), raw + 16, sizes.size() * 8);
  uint64_t at = 16 + 8 * sizes.size();
  for (const uint64_t size : sizes) {
    if (size > bytes - at) throw FormatError(bad + "segments overrun the section");
    segments_.push_back(tables_from_blob(file, raw + at, size, layout, max_key_bits_, store_->size() - indexed_));
    indexed_ += segments_.back()->positions;
    at += size;
  }
  if (at != bytes) throw FormatError(bad + "section size does not match its segments");
}

}  // namespace nash_index
