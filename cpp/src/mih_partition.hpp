// The fast build of one multi-index table: a radix pre-partition of the codes'
// keys, then a counting sort of each partition in cache. It writes the same
// bytes as BucketTable::build (entries by key, positions increasing within a
// key), without that build's random accesses into GB-sized arrays.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "mih_table.hpp"

namespace nash_index {

// Scratch entries (8 bytes each) the partitioned build holds at most: the
// environment's NASH_MIH_BUILD_SCRATCH_MB, else 1 GiB. More codes than this are
// partitioned in several passes over the codes, one per group of partitions.
uint64_t partition_scratch_entries();
// False when the environment sets NASH_MIH_BUILD=counting: the table builds then
// use BucketTable::build, one table per thread (kept to compare the two).
bool partitioned_build_enabled();

// Builds table j into `arrays` (TableShape::bytes(), zeroed) on up to `threads`
// threads, exactly as BucketTable::build does; progress and cancellation as
// there (3 steps of n codes). Returns false, having written nothing, when one
// partition alone holds more than `scratch_entries` codes (heavily duplicated
// keys, where BucketTable::build's accesses are not random anyway).
bool build_table_partitioned(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j,
                             const TableShape& shape, uint8_t* arrays, std::atomic<uint64_t>* progress,
                             int threads, uint64_t scratch_entries);

}  // namespace nash_index
