// The interface every index kind implements: packed codes with ids, exact
// k-NN and range search, persistence by sections, and table upkeep aside from
// searches. A kind registers itself (index_kinds.hpp) and needs nothing else:
// the file parser, the binding and Python serve every registered kind alike.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nash_index/common.hpp"

namespace nash_index {

class CodeStore;
class FileSections;  // src/file_sections.hpp
class IndexFile;

// Work done by one query; kinds that do not measure it leave it zero.
struct SearchWork {
  uint64_t probes = 0;
  uint64_t candidates = 0;  // distinct codes verified
  bool scanned = false;     // answered by the flat scan
};

class CodeIndex {
 public:
  virtual ~CodeIndex();
  CodeIndex(const CodeIndex&) = delete;
  CodeIndex& operator=(const CodeIndex&) = delete;

  // The kind's tag in the file header (its registration, index_kinds.hpp).
  virtual uint32_t kind() const = 0;
  int nbits() const;
  size_t code_size() const;
  virtual size_t ntotal() const;
  // Whether the codes are read in place from a memory-mapped file.
  virtual bool is_mapped() const;

  // ids == nullptr continues after the largest id so far. Throws
  // std::invalid_argument on a negative id, or one present or repeated.
  virtual void add(const uint8_t* codes, size_t n, const idx_t* ids);
  // Removes the listed ids (absent ones are ignored); returns the count removed.
  virtual size_t remove(const idx_t* ids, size_t n);
  virtual void reset();

  // k nearest by (distance, id) per query: nq * k entries, padded with
  // (kPadDistance, kPadId). `work`, when given, receives nq entries.
  virtual void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
                      SearchWork* work = nullptr) const = 0;
  // Every code within `radius` (inclusive), each query's results sorted by (distance, id).
  virtual RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                                   SearchWork* work = nullptr) const = 0;

  // ntotal * code_size bytes in position order; valid until the next change.
  virtual const uint8_t* codes() const;
  // The id of every code, in position order.
  virtual std::vector<idx_t> ids() const;
  // The stored code of `id` (code_size bytes into `out`); false when absent.
  virtual bool reconstruct(idx_t id, uint8_t* out) const;

  // Writes the file atomically (src/atomic_file.hpp), or returns its bytes.
  void save(const std::string& path) const;
  std::vector<uint8_t> serialize() const;

  // Upkeep that leaves searches running, for callers with a reader/writer
  // lock: under the read lock, prepare_upkeep builds what is due (everything
  // when `force`) aside, or returns nullptr when nothing is; under the write
  // lock, install_upkeep swaps it in, or returns false when a change since
  // voided it (the index stays exact without it, only slower). What it
  // replaced moves into the Upkeep, to be freed after the lock is released.
  // Kinds without tables have nothing to do.
  class Upkeep {
   public:
    virtual ~Upkeep();
  };
  virtual std::unique_ptr<Upkeep> prepare_upkeep(bool force) const;
  virtual bool install_upkeep(Upkeep& prepared);

 protected:
  explicit CodeIndex(int nbits);
  // The codes and ids of `file` (at most `max_codes` codes: FormatError
  // otherwise). The registry hands a loader only files of its own kind.
  explicit CodeIndex(const std::shared_ptr<IndexFile>& file, size_t max_codes = SIZE_MAX);
  // The sections save writes after the header: the store's by default; a
  // kind with more state appends its own (metadata included).
  virtual void add_sections(FileSections& out) const;

  std::unique_ptr<CodeStore> store_;

 private:
  friend class DedupIndex;  // writes its inner index's sections into its own file
};

}  // namespace nash_index
