// Writing side of the index file format (index_file.hpp) and the one list of
// section tags: every part of an index names its sections here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nash_index/index_file.hpp"

namespace nash_index {

constexpr size_t kMaxSections = 8;

// Section tags (stable: they are on disk).
constexpr uint32_t kSectionCodes = 1;     // ntotal * code_size bytes, position order
constexpr uint32_t kSectionIds = 2;       // ntotal int64 ids; absent while ids are positions
constexpr uint32_t kSectionStoreMeta = 3; // uint64 {meta version, next default id}; absent in older files
constexpr uint32_t kSectionMihMeta = 16;  // uint32 words: m and fallback settings (MultiIndexHashing::meta)
constexpr uint32_t kSectionMihTables = 17;  // the tables (mih_tables.hpp); absent in older files
constexpr uint32_t kSectionMihDeltas = 18;  // delta segments' tables: {1, count, bytes...} + blobs

struct SectionData {
  uint32_t tag;
  const void* data;
  uint64_t bytes;
};

uint64_t checksum64(const void* data, size_t bytes, uint64_t seed = 0);

// For writers that fill a file in place (the MIH file builder): where sections
// of these sizes go (4096-aligned, in order; the first offset does not depend
// on the sizes), and the header bytes once their checksums are known.
struct SectionPlan {
  uint32_t tag;
  uint64_t bytes, checksum;
};
std::vector<uint64_t> section_offsets(const std::vector<uint64_t>& sizes);
std::vector<uint8_t> header_bytes(const IndexHeaderInfo& info, const std::vector<SectionPlan>& sections);

void write_index_file(const std::string& path, const IndexHeaderInfo& info, const std::vector<SectionData>& sections);
std::vector<uint8_t> serialize_index(const IndexHeaderInfo& info, const std::vector<SectionData>& sections);

}  // namespace nash_index
