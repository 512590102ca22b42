// MultiIndexHashing's files: the one plan of their sections (save and the
// file builder write it, load reads it) and the metadata words.
#include <cstring>
#include <string>

#include "code_store.hpp"
#include "mih_tables.hpp"

namespace nash_index {
namespace {
constexpr uint32_t kMihMetaVersion = 2;  // see mih_meta_words (mih_tables.hpp)
// Version 2's words in a file whose tables hold tombstones (kSectionMihTombstones):
// builds that do not know that section refuse the file rather than misread positions.
constexpr uint32_t kMihMetaTombstones = 3;
constexpr uint64_t kTombstonesVersion = 1;

// The tombstones section's words: {version 1, segments, bitmap words of each
// (0: none dead)}, then the bitmaps (Tombstones::words) one after another.
std::vector<uint64_t> tombstones_section(const std::vector<std::unique_ptr<MultiIndexHashing::Tables>>& segments) {
  std::vector<uint64_t> out{kTombstonesVersion, segments.size()};
  for (const auto& t : segments) out.push_back(t->dead.words().size());
  for (const auto& t : segments) out.insert(out.end(), t->dead.words().begin(), t->dead.words().end());
  return out;
}

// Each segment's bitmap words from the tombstones section. Throws FormatError.
std::vector<std::vector<uint64_t>> read_tombstones(const IndexFile& file) {
  const std::string bad = "index file: bad multi-index tombstones: ";
  uint64_t bytes = 0;
  const uint8_t* raw = file.section(kSectionMihTombstones, &bytes);
  if (bytes % 8 != 0 || bytes < 16) throw FormatError(bad + "section of " + std::to_string(bytes) + " bytes");
  std::vector<uint64_t> words(bytes / 8);
  std::memcpy(words.data(), raw, bytes);
  if (words[0] != kTombstonesVersion) throw FormatError(bad + "unknown version " + std::to_string(words[0]));
  const uint64_t segments = words[1];
  if (segments == 0 || segments > kMaxSegments || words.size() < 2 + segments)
    throw FormatError(bad + "bad segment count " + std::to_string(segments));
  std::vector<std::vector<uint64_t>> out(segments);
  size_t at = 2 + segments;
  for (size_t s = 0; s < segments; ++s) {
    const uint64_t count = words[2 + s];
    if (count > words.size() - at) throw FormatError(bad + "bitmaps overrun the section");
    out[s].assign(words.begin() + long(at), words.begin() + long(at + count));
    at += count;
  }
  if (at != words.size()) throw FormatError(bad + "section size does not match its bitmaps");
  return out;
}

uint64_t dead_in(const std::vector<uint64_t>& words) {
  uint64_t count = 0;
  for (const uint64_t w : words) count += static_cast<uint64_t>(__builtin_popcountll(w));
  return count;
}

// Gives segment `t` its saved tombstones (none when `dead` has no entry for it).
void restore_tombstones(MultiIndexHashing::Tables& t, const std::vector<std::vector<uint64_t>>& dead, size_t s) {
  if (s >= dead.size()) return;
  if (!Tombstones::from_words(t.positions, dead[s], &t.dead))
    throw FormatError("index file: bad multi-index tombstones: segment " + std::to_string(s) +
                      "'s bitmap does not match its tables");
}

uint64_t dead_of(const std::vector<std::vector<uint64_t>>& dead, size_t s) { return s < dead.size() ? dead_in(dead[s]) : 0; }
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

// The tables are saved as they are: the main segment's blob in one section,
// the deltas' blobs after a directory of their sizes in another, so a mapped
// load serves them as they are (builds that do not know the deltas section
// scan and re-index those codes as a tail). Removed codes stay in the tables
// as tombstones, saved in a section of their own (metadata version 3), so a
// save after a removal no longer costs a rebuild at load.
void MultiIndexHashing::add_sections(FileSections& out) const {
  CodeIndex::add_sections(out);
  for (const auto& t : segments_)
    if (!t->blob) return add_mih_sections(out, meta(), nullptr, 0, {});
  std::vector<uint32_t> words = meta();
  const bool dead = tombstones() != 0;
  if (dead) words[0] = kMihMetaTombstones;
  add_mih_sections(out, std::move(words), segments_.front()->blob, segments_.front()->blob_bytes, deltas_section());
  if (dead) out.add_owned(kSectionMihTombstones, tombstones_section(segments_));
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
  const size_t words = meta[0] == 1 ? kMetaWordsV1 : meta[0] == 2 || meta[0] == kMihMetaTombstones ? kMetaWordsV2 : 0;
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
  const bool with_tombstones = meta[0] == kMihMetaTombstones;
  if (with_tombstones != file->has_section(kSectionMihTombstones) ||
      (with_tombstones && !file->has_section(kSectionMihTables)))
    throw FormatError("index file: multi-index tombstones without version 3 metadata and tables, or the reverse");
  if (!file->has_section(kSectionMihTables)) {
    index->rebuild(in_use);  // the saved split: the same tables as before saving
    return index;
  }
  const std::vector<std::vector<uint64_t>> dead = with_tombstones ? read_tombstones(*file) : std::vector<std::vector<uint64_t>>();
  const SubstringLayout layout(nbits, in_use);
  const uint8_t* blob = file->section(kSectionMihTables, &bytes);
  index->segments_.push_back(
      tables_from_blob(file, blob, bytes, layout, max_key_bits, index->store_->size() + dead_of(dead, 0)));
  restore_tombstones(*index->segments_.front(), dead, 0);
  index->indexed_ = index->segments_.front()->live();
  if (file->has_section(kSectionMihDeltas)) index->load_deltas(file, layout, dead);
  if (with_tombstones && dead.size() != index->segments_.size())
    throw FormatError("index file: bad multi-index tombstones: " + std::to_string(dead.size()) +
                      " segments, the tables have " + std::to_string(index->segments_.size()));
  return index;
}

// The deltas section: {version 1, count, bytes of each} then the blobs, each
// checked like the main one against the codes not yet covered.
void MultiIndexHashing::load_deltas(const std::shared_ptr<IndexFile>& file, const SubstringLayout& layout,
                                    const std::vector<std::vector<uint64_t>>& dead) {
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
    const size_t s = segments_.size();
    segments_.push_back(
        tables_from_blob(file, raw + at, size, layout, max_key_bits_, store_->size() - indexed_ + dead_of(dead, s)));
    restore_tombstones(*segments_.back(), dead, s);
    indexed_ += segments_.back()->live();
    at += size;
  }
  if (at != bytes) throw FormatError(bad + "section size does not match its segments");
}

}  // namespace nash_index
