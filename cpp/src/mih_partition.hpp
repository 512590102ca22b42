// The fast build of one multi-index table: a radix pre-partition of the codes'
// keys, then a counting sort of each partition in cache. It writes the same
// bytes as BucketTable::build (entries by key, positions increasing within a
// key), without that build's random accesses into GB-sized arrays.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "mih_table.hpp"

namespace nash_index {

// Zeroed anonymous memory in 4 KiB pages, faulted in up front in one call
// where the kernel can (MADV_POPULATE_WRITE). For buffers written in order:
// here huge pages cost more than they save (compaction to find them took up to
// 3 s per GiB where 4 KiB pages took 0.5-1 s).
class ZeroedPages {
 public:
  explicit ZeroedPages(uint64_t bytes);
  ~ZeroedPages();
  ZeroedPages(const ZeroedPages&) = delete;
  ZeroedPages& operator=(const ZeroedPages&) = delete;
  uint8_t* data() const { return data_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t bytes_ = 0;
};

// The partitioned build's scratch: (key, position) entries of 8 bytes, at most
// limit() of them (the environment's NASH_MIH_BUILD_SCRATCH_MB, else 1 GiB). More
// codes than that are partitioned in several passes over the codes, one per
// group of partitions. One scratch serves every table of a build: its pages
// are faulted in once.
class PartitionScratch {
 public:
  PartitionScratch();
  ~PartitionScratch();
  PartitionScratch(const PartitionScratch&) = delete;
  PartitionScratch& operator=(const PartitionScratch&) = delete;

  uint64_t limit() const { return std::max(limit_, lent_entries_); }
  // Room for `entries` (<= limit()), uninitialised; earlier contents are lost.
  uint64_t* reserve(uint64_t entries);
  // Lends zeroed memory (the arrays of tables not built yet), used instead of
  // the scratch's own while it is larger: fewer passes, no more memory.
  void lend(uint8_t* region, uint64_t bytes);
  // Zeroes what was written to the lent memory and stops using it.
  void give_back();

 private:
  uint64_t limit_;
  uint64_t* lent_ = nullptr;
  uint64_t lent_entries_ = 0, lent_used_ = 0;
  std::unique_ptr<ZeroedPages> pages_;
  uint64_t size_ = 0;
};

// False when the environment sets NASH_MIH_BUILD=counting: the table builds then
// use BucketTable::build, one table per thread (kept to compare the two).
bool partitioned_build_enabled();

// Builds table j into `arrays` (TableShape::bytes(), zeroed) on up to `threads`
// threads, exactly as BucketTable::build does; progress and cancellation as
// there (3 steps of n codes). Returns false, having written nothing, when one
// partition alone holds more than scratch.limit() codes (heavily duplicated
// keys, where BucketTable::build's accesses are not random anyway).
bool build_table_partitioned(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j,
                             const TableShape& shape, uint8_t* arrays, std::atomic<uint64_t>* progress,
                             int threads, PartitionScratch& scratch);

}  // namespace nash_index
