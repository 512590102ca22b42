// Packed codes and their external ids, owned or borrowed from a mapped file.
// Shared by FlatIndex and MultiIndexHashing.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "file_sections.hpp"
#include "huge_pages.hpp"
#include "nash_index/common.hpp"
#include "scan_search.hpp"

namespace nash_index {

class CodeStore {
 public:
  explicit CodeStore(int nbits);

  int nbits() const { return nbits_; }
  size_t code_size() const { return code_size_; }
  size_t size() const { return ntotal_; }
  const uint8_t* codes() const { return codes_; }
  // Id of the code at `pos`.
  idx_t id_at(size_t pos) const { return identity_ids() ? static_cast<idx_t>(pos) : ids_[pos]; }
  bool identity_ids() const { return ids_ == nullptr; }
  CodesView view() const;

  // Appends codes; ids == nullptr continues after the largest id so far.
  // Throws std::invalid_argument on a negative id, or one already present or repeated.
  void add(const uint8_t* codes, size_t n, const idx_t* ids);
  // Removes every code whose id is listed (unknown ids are ignored); keeps the
  // order of the rest. Returns the number removed.
  size_t remove(const idx_t* ids, size_t n);
  // Sorted, distinct positions of the listed ids present in the store.
  std::vector<size_t> positions_of(const idx_t* ids, size_t n) const;
  // Removes the codes at these positions (sorted, distinct, < size()), keeping
  // the order of the rest: moves between them, no id lookup.
  void erase_positions(const std::vector<size_t>& positions);
  void reset();

  // Ids of every code in position order (materialised when they are the identity).
  std::vector<idx_t> ids_copy() const;

  // Persistence: the sections this store contributes, and the inverse.
  // from_file refuses a file of more than `max_codes` codes (FormatError).
  void add_sections(FileSections& out) const { add_sections(out, codes_, ntotal_, code_size_, ids_, meta_words_); }
  // The same sections for writers without a store (the MIH file builder):
  // codes, ids unless nullptr (positions), the two metadata words.
  static void add_sections(FileSections& out, const uint8_t* codes, uint64_t count, size_t code_size, const idx_t* ids,
                           const uint64_t* meta_words);
  static CodeStore from_file(const std::shared_ptr<IndexFile>& file, size_t max_codes = SIZE_MAX);
  // The store metadata section's words for a store whose next default id is `next_id`.
  static std::array<uint64_t, 2> meta_words_for(idx_t next_id);
  bool is_mapped() const { return file_ != nullptr && file_->is_mapped(); }

  size_t memory_bytes() const { return owned_codes_.capacity() + owned_ids_.capacity() * sizeof(idx_t); }

 private:
  void make_owned();
  void materialize_ids();
  void check_new_ids(const idx_t* ids, size_t n) const;
  void refresh_pointers();

  int nbits_;
  size_t code_size_;
  size_t ntotal_ = 0;
  idx_t next_id_ = 0;              // default id of the next code added (saturates at INT64_MAX)
  uint64_t meta_words_[2] = {};    // the kSectionStoreMeta section, kept in step by refresh_pointers
  bool ids_increasing_ = true;
  std::vector<uint8_t, HugePageAllocator<uint8_t>> owned_codes_;  // huge pages: scans are ~1.5x faster
  std::vector<idx_t> owned_ids_;   // empty while ids are 0..n-1
  bool owned_identity_ = true;
  const uint8_t* codes_ = nullptr;
  const idx_t* ids_ = nullptr;     // nullptr: ids are positions
  std::shared_ptr<IndexFile> file_;  // the loaded file, whose bytes hold the codes until they are copied
};

}  // namespace nash_index
