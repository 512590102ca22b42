// The multi-index tables of an index as one blob of bytes: a header of uint64
// words, then each table's arrays (TableShape). The same bytes live in memory
// (built here) or in a section of an index file (saved, or written by the
// file builder), so a mapped file serves its tables without a rebuild.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "mih_table.hpp"
#include "nash_index/index_file.hpp"
#include "nash_index/mih.hpp"

namespace nash_index {

struct MultiIndexHashing::Tables {
  SubstringLayout layout;
  std::vector<BucketTable> by_substring;
  size_t positions = 0;  // codes the tables were built over: table positions [0, positions)
  Tombstones dead;       // those removed since, and the map to store positions
  std::vector<uint64_t> owned;        // the blob, when built or copied here
  std::shared_ptr<IndexFile> file;    // or the mapped file whose section holds it
  const uint8_t* blob = nullptr;
  uint64_t blob_bytes = 0;
};

// The metadata section's uint32 words. Version 1: {1, m requested (0 = auto),
// m in use, 0}. Version 2 appends the fallback settings: {fallback, 0,
// probe_cost, scan_cost_single, scan_cost_batch}, each cost a little-endian
// double in two words. Version 1 files load with the default settings.
std::vector<uint32_t> mih_meta_words(int m_requested, int m_in_use, const MihParams& params);

// Shapes of the m tables over n codes.
std::vector<TableShape> table_shapes(const SubstringLayout& layout, uint64_t n);
// Bytes of the blob holding tables of these shapes.
uint64_t tables_blob_bytes(const std::vector<TableShape>& shapes);
// Writes the header and builds every table (in parallel) into `blob`
// (tables_blob_bytes, zeroed) over codes [0, n).
void build_tables_blob(const uint8_t* codes, size_t code_size, const SubstringLayout& layout,
                       const std::vector<TableShape>& shapes, uint8_t* blob, std::atomic<uint64_t>* progress);
// Tables built in memory over the first n codes.
std::unique_ptr<MultiIndexHashing::Tables> build_tables(const uint8_t* codes, size_t code_size, size_t n,
                                                        const SubstringLayout& layout);
// Tables over a blob read from `file` (viewed in place when the file is
// mapped, copied otherwise), checked against the split and the code count.
// Throws FormatError.
std::unique_ptr<MultiIndexHashing::Tables> tables_from_blob(const std::shared_ptr<IndexFile>& file, const uint8_t* blob,
                                                            uint64_t bytes, const SubstringLayout& layout,
                                                            uint64_t ntotal);

}  // namespace nash_index
