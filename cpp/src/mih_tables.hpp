// The multi-index tables of an index as one blob of bytes: a header of uint64
// words, then each table's arrays (TableShape). The same bytes live in memory
// (built here) or in a section of an index file (saved, or written by the
// file builder), so a mapped file serves its tables without a rebuild.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "file_sections.hpp"
#include "huge_pages.hpp"
#include "mih_table.hpp"
#include "nash_index/index_file.hpp"
#include "nash_index/mih.hpp"

namespace nash_index {

struct MultiIndexHashing::Tables {
  SubstringLayout layout;
  std::vector<BucketTable> by_substring;
  int max_key_bits = 0;  // the cap the tables were built with (0: none)
  size_t positions = 0;  // codes the tables were built over: table positions [0, positions)
  Tombstones dead;       // those removed since, and the map to store positions
  std::vector<uint64_t, HugePageAllocator<uint64_t>> owned;  // the blob, when built or copied here
  std::shared_ptr<IndexFile> file;    // or the mapped file whose section holds it
  const uint8_t* blob = nullptr;
  uint64_t blob_bytes = 0;

  size_t live() const;  // positions not removed
  // Table j keys codes by the low key_bits(j) bits of substring j.
  int key_bits(int j) const { return by_substring[size_t(j)].shape().key_bits; }
  uint32_t key(const uint8_t* code, size_t code_size, int j) const {
    const int bits = key_bits(j);
    return layout.extract(code, code_size, j) & (bits >= 32 ? 0xFFFFFFFFu : (uint32_t{1} << bits) - 1);
  }
};

// Table segments at most: at this many the deltas merge into one (mih.cpp).
constexpr size_t kMaxSegments = 8;

// The error in a set of fallback parameters, or "" (they are saved, so they must be finite).
std::string mih_params_error(const MihParams& p);

// Bits of substring j that its table keys by: all of them, or at most
// max_key_bits (> 0) of them; fewer bits make smaller tables (see TableShape).
int key_bits_for(int substring_bits, int max_key_bits);

// The metadata section's uint32 words. Version 1: {1, m requested (0 = auto),
// m in use, max key bits (0 = none; always 0 before the cap existed)}. Version 2 appends the fallback settings: {fallback, 0,
// probe_cost, scan_cost_single, scan_cost_batch}, each cost a little-endian
// double in two words. Version 1 files load with the default settings.
std::vector<uint32_t> mih_meta_words(int m_requested, int m_in_use, const MihParams& params, int max_key_bits);

// The one plan of a MultiIndexHashing file, for save and the file builder:
// after the store's sections, the metadata words, then (when `tables` is
// given) the main segment's tables blob and, unless `deltas` is empty, the
// deltas section (MultiIndexHashing::deltas_section).
void add_mih_sections(FileSections& out, std::vector<uint32_t> meta, const uint8_t* tables, uint64_t table_bytes,
                      std::vector<uint64_t> deltas);

// Shapes of the m tables over n codes.
std::vector<TableShape> table_shapes(const SubstringLayout& layout, uint64_t n, int max_key_bits);
// Bytes of the blob holding tables of these shapes.
uint64_t tables_blob_bytes(const std::vector<TableShape>& shapes);
// Writes the header and builds every table (in parallel) into `blob`
// (tables_blob_bytes, zeroed) over codes [0, n).
void build_tables_blob(const uint8_t* codes, size_t code_size, const SubstringLayout& layout,
                       const std::vector<TableShape>& shapes, uint8_t* blob, std::atomic<uint64_t>* progress);
// Tables built in memory over the first n codes.
std::unique_ptr<MultiIndexHashing::Tables> build_tables(const uint8_t* codes, size_t code_size, size_t n,
                                                        const SubstringLayout& layout, int max_key_bits);
// Tables over a blob read from `file` (viewed in place when the file is
// mapped, copied otherwise), checked against the split, the key bit cap and
// the code count. Throws FormatError.
std::unique_ptr<MultiIndexHashing::Tables> tables_from_blob(const std::shared_ptr<IndexFile>& file, const uint8_t* blob,
                                                            uint64_t bytes, const SubstringLayout& layout,
                                                            int max_key_bits, uint64_t ntotal);

}  // namespace nash_index
