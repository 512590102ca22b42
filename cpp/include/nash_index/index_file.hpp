// On-disk format shared by every index kind: reading a file (the writing side
// and the section tags are in src/file_sections.hpp).
//
// A header (magic, format version, index kind, nbits, count, a table of
// sections with offsets, sizes and checksums, and a checksum of the header
// itself) followed by the sections, each aligned to 4096 bytes so that a code
// block can be memory-mapped in place. Version 1 has a table of 8 entries;
// version 2 a table of exactly nsections entries (up to kMaxSections, the
// header still within the first 4096 bytes). Writers use version 1 whenever
// the sections fit, so that builds which read only version 1 read those files.
// Writes go to a unique temporary file
// that is renamed over the target (src/atomic_file.hpp), so a crash never
// leaves a half-written index and a mapping of the old file stays intact.
// Reading treats the bytes as hostile: every header field and section bound is
// checked (overflow-safe) before use; unknown section tags are skipped, so
// older builds read files that carry newer optional sections.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nash_index {

constexpr uint32_t kFormatVersion = 2;  // the newest this build reads and writes
constexpr uint32_t kMaxSections = 126;  // version 2's table, header and all, fits in the first 4096 bytes

// I/O failure (missing file, permissions, disk full): mapped to OSError.
struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The bytes are not a valid index (truncated, corrupted, wrong kind/version): ValueError.
struct FormatError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct IndexHeaderInfo {
  uint32_t kind;  // a registered kind's tag (index_kinds.hpp)
  uint32_t nbits;
  uint64_t ntotal;
  uint32_t flags;
};

// Writes a file of these (tag, bytes) sections, laid out as an index writes
// its own (atomically): for tests and tools that exercise the format itself.
void write_sections_file(const std::string& path, const IndexHeaderInfo& info,
                         const std::vector<std::pair<uint32_t, std::string>>& sections);

// A parsed index file; keeps its bytes alive (a mapping or an owned buffer).
class IndexFile {
 public:
  // Refuses anything but a regular file (IoError) without blocking on a FIFO.
  // `populate` (with use_mmap) maps every page at once. Files of 2 MiB and
  // more are mapped, or read into memory, in 2 MiB pages where the OS allows.
  static std::shared_ptr<IndexFile> open(const std::string& path, bool use_mmap, bool verify, bool populate = false);
  // A copy of `size` bytes at `data` (any alignment), in memory as open() reads a file.
  static std::shared_ptr<IndexFile> from_bytes(const uint8_t* data, size_t size);
  // The sections of `parent` under another header (kept alive with it): how a
  // kind that wraps another (DedupIndex) hands the inner kind's sections to its loader.
  static std::shared_ptr<IndexFile> view(const std::shared_ptr<IndexFile>& parent, const IndexHeaderInfo& info);
  ~IndexFile();
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;

  const IndexHeaderInfo& info() const { return info_; }
  bool has_section(uint32_t tag) const;
  // Pointer and size of a section; throws FormatError when it is missing.
  const uint8_t* section(uint32_t tag, uint64_t* bytes) const;
  bool is_mapped() const { return mapping_ != nullptr || (parent_ && parent_->is_mapped()); }
  // Sections whose bytes fail their checksum (a file opened without verify
  // is checked by this before anything loaded from it is written back).
  std::vector<uint32_t> damaged_sections() const;

 private:
  IndexFile() = default;
  void parse(bool verify, const std::string& origin);
  void read_sections(uint32_t count, bool verify, const std::string& origin);

  IndexHeaderInfo info_{};
  struct Entry {
    uint32_t tag;
    uint64_t offset, bytes, checksum;
  };
  std::vector<Entry> entries_;
  void* mapping_ = nullptr;      // the file, mapped
  void* read_ = nullptr;         // the file, read into anonymous memory (open without mmap, from_bytes)
  size_t size_ = 0;
  const uint8_t* base_ = nullptr;
  std::shared_ptr<IndexFile> parent_;  // a view's bytes
};

}  // namespace nash_index
