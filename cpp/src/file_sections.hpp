// Writing side of the index file format (index_file.hpp) and the one list of
// section tags: every part of an index names its sections here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nash_index/index_file.hpp"

namespace nash_index {

class AtomicFile;

// Section tags (stable: they are on disk).
constexpr uint32_t kSectionCodes = 1;     // ntotal * code_size bytes, position order
constexpr uint32_t kSectionIds = 2;       // ntotal int64 ids; absent while ids are positions
constexpr uint32_t kSectionStoreMeta = 3; // uint64 {meta version, next default id}; absent in older files
constexpr uint32_t kSectionMihMeta = 16;  // uint32 words: m and fallback settings (MultiIndexHashing::meta)
constexpr uint32_t kSectionMihTables = 17;  // the tables (mih_tables.hpp); absent in older files
constexpr uint32_t kSectionMihDeltas = 18;  // delta segments' tables: {1, count, bytes...} + blobs
constexpr uint32_t kSectionMihTombstones = 19;  // removed table positions per segment (mih_file.cpp)
// DedupIndex (its inner index's sections above hold the distinct codes):
constexpr uint32_t kSectionDedupMeta = 32;     // uint64 {version, inner kind, groups, dead groups, next default id}
constexpr uint32_t kSectionDedupOffsets = 33;  // groups + 1 uint64: group g's ids are ids[offsets[g], offsets[g+1])
constexpr uint32_t kSectionDedupIds = 34;      // ntotal int64 ids, ascending within each group
constexpr uint32_t kSectionDedupLookup = 35;   // uint32 hash slots: group + 1 of a code (src/code_lookup.hpp)
constexpr uint32_t kSectionClusterMeta = 48;   // uint32 {version 1, clusters requested (0 = auto)}

struct SectionData {
  uint32_t tag;
  const void* data;
  uint64_t bytes;
};

// The sections an index writes, in file order: bytes it holds (which must
// outlive the write), or bytes made for the write (metadata words, a
// directory), kept here until then.
class FileSections {
 public:
  void add(uint32_t tag, const void* data, uint64_t bytes) { list_.push_back({tag, data, bytes}); }
  template <class T>
  void add_owned(uint32_t tag, std::vector<T> values) {
    auto kept = std::make_shared<std::vector<T>>(std::move(values));
    add(tag, kept->data(), kept->size() * sizeof(T));
    kept_.push_back(std::move(kept));
  }
  const std::vector<SectionData>& list() const { return list_; }

 private:
  std::vector<SectionData> list_;
  std::vector<std::shared_ptr<const void>> kept_;
};

uint64_t checksum64(const void* data, size_t bytes, uint64_t seed = 0);

// Where the first section starts, whatever the sections (4096): a writer may
// fill it before it knows the others (the MIH file builder streams codes there).
uint64_t first_section_offset();

void write_index_file(const std::string& path, const IndexHeaderInfo& info, const FileSections& sections);
std::vector<uint8_t> serialize_index(const IndexHeaderInfo& info, const FileSections& sections);
// Completes a file whose first section's bytes `out` already holds at
// first_section_offset(): writes the other sections, then the header, with
// every checksum (computed in parallel). The caller commits `out`.
void finish_index_file(AtomicFile& out, const IndexHeaderInfo& info, const FileSections& sections);

}  // namespace nash_index
