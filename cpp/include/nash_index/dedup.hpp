// Identical codes stored once: an inner index (flat scan or MIH) over the
// distinct codes, and per distinct code ("group") the ascending list of ids
// that carry it, in CSR form. Learned codes of a large corpus repeat a lot
// (near-duplicate documents): a query then verifies each distinct code once
// instead of every copy, and ties at the boundary distance are settled by
// the groups' smallest ids. Results are exactly FlatIndex's (distances and
// ids, ties by ascending id, the same padding).
//
// Group g is position g of the inner index (inner ids are positions, never
// removed from it). A group whose last id is removed stays in the inner
// index as a dead group (no ids) until dead groups pass 1/8 of all of them;
// then the inner index is rebuilt over the live codes (compaction).
//
// Storage order (codes(), ids()): group by group, ids ascending in a group.
// Costs: add and remove rewrite the CSR lists (O(ntotal + n log n));
// reconstruct scans the ids (O(ntotal)).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "nash_index/code_index.hpp"
#include "nash_index/index_file.hpp"
#include "nash_index/index_kinds.hpp"

namespace nash_index {

class CodeLookup;  // src/code_lookup.hpp

class DedupIndex : public CodeIndex {
 public:
  // On disk (index_kinds.hpp): inner flat scan, inner MultiIndexHashing.
  static constexpr uint32_t kTagFlat = 3;
  static constexpr uint32_t kTagMih = 4;

  DedupIndex(int nbits, std::unique_ptr<CodeIndex> inner);
  ~DedupIndex() override;
  // The registry's factories: "flat_dedup" (no options) and "mih_dedup" (MIH's "m", "max_key_bits").
  static std::unique_ptr<CodeIndex> create_flat(int nbits, IndexOptions& options);
  static std::unique_ptr<CodeIndex> create_mih(int nbits, IndexOptions& options);
  static std::unique_ptr<CodeIndex> load(const std::shared_ptr<IndexFile>& file);

  uint32_t kind() const override;
  size_t ntotal() const override { return groups_ == 0 ? 0 : static_cast<size_t>(offsets_[groups_]); }
  bool is_mapped() const override;
  // Distinct codes held (live groups), and groups including dead ones.
  size_t distinct() const { return groups_ - dead_; }
  size_t groups() const { return groups_; }
  const CodeIndex& inner() const { return *inner_; }
  // Bytes of the id lists and group offsets (the inner index's aside).
  size_t list_bytes() const { return ntotal() * sizeof(idx_t) + (groups_ + 1) * sizeof(uint64_t); }

  void add(const uint8_t* codes, size_t n, const idx_t* ids) override;
  size_t remove(const idx_t* ids, size_t n) override;
  void reset() override;

  void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
              SearchWork* work = nullptr) const override;
  RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                           SearchWork* work = nullptr) const override;

  const uint8_t* codes() const override;
  std::vector<idx_t> ids() const override;
  bool reconstruct(idx_t id, uint8_t* out) const override;

  // The inner index's upkeep (MIH table builds), refused after a compaction or reset.
  std::unique_ptr<Upkeep> prepare_upkeep(bool force) const override;
  bool install_upkeep(Upkeep& prepared) override;

 private:
  struct InnerUpkeep;
  explicit DedupIndex(int nbits);
  void add_sections(FileSections& out) const override;
  void load_lists(const std::shared_ptr<IndexFile>& file);

  size_t group_size(size_t g) const { return static_cast<size_t>(offsets_[g + 1] - offsets_[g]); }
  const idx_t* group_ids(size_t g) const { return ids_ + offsets_[g]; }
  void check_new_ids(const idx_t* ids, size_t n) const;
  void add_grouped(const uint8_t* codes, size_t n, const idx_t* ids);
  std::vector<uint32_t> groups_of(const uint8_t* codes, size_t n, std::vector<uint8_t>& fresh);
  void rebuild_lookup();
  void load_lookup(const std::shared_ptr<IndexFile>& file);
  // Installs new CSR lists (owned); clears the codes() cache.
  void set_lists(std::vector<uint64_t> offsets, std::vector<idx_t> ids, size_t groups);
  void compact();
  std::unique_ptr<CodeIndex> empty_inner() const;
  void emit(const std::vector<std::pair<dist_t, idx_t>>& near, dist_t edge, size_t k, dist_t* distances,
            idx_t* ids) const;
  dist_t edge_of(const std::vector<std::pair<dist_t, idx_t>>& near, size_t k) const;
  bool complete_query(const uint8_t* query, const dist_t* gd, const idx_t* gi, size_t kk, size_t k, dist_t* distances,
                      idx_t* ids, int num_threads) const;
  bool complete_by_range(const uint8_t* query, dist_t radius, size_t k, dist_t* distances, idx_t* ids,
                         int num_threads) const;
  std::vector<size_t> answer_exact(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids) const;

  std::unique_ptr<CodeIndex> inner_;
  size_t groups_ = 0;  // inner positions; offsets_ has groups_ + 1 entries
  size_t dead_ = 0;    // groups without ids
  idx_t next_id_ = 0;  // the next default id (after the largest id ever added)
  uint64_t generation_ = 0;  // bumped when the inner index is replaced
  const uint64_t* offsets_ = nullptr;
  const idx_t* ids_ = nullptr;
  std::vector<uint64_t> owned_offsets_{0};
  std::vector<idx_t> owned_ids_;
  std::shared_ptr<IndexFile> file_;  // keeps mapped lists alive
  std::unique_ptr<CodeLookup> lookup_;  // code -> group, always covering every group
  mutable std::mutex codes_mutex_;   // codes() materialises under concurrent readers
  mutable std::vector<uint8_t> codes_cache_;
  mutable bool codes_cached_ = false;
};

}  // namespace nash_index
