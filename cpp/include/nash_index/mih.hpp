// Exact Hamming k-NN and range search by multi-index hashing (Norouzi, Punjani
// & Fleet, CVPR 2012): each code is split into m substrings, one table per
// substring; a query probes the buckets of each table at substring radius
// 0, 1, 2, ... and verifies the codes found with a full-code popcount. A code
// not yet found after radius r of tables 0..j (and r - 1 of the others) is at
// distance >= m*r + j + 1, so the search stops once the k-th best verified
// distance is within m*r + j: every code that could still enter, ties included,
// has been verified.
//
// Codes added after the last table build form a "tail" that every query scans
// linearly, until tables are built over it as a delta segment (or over
// everything again). A removal drops codes from the store (as FlatIndex does) but only
// leaves tombstones in the tables, which queries skip (and files save). The tables are rebuilt
// (with a revised automatic m) once the tail or the tombstones pass a share of
// the index (needs_rebuild), aside from searches: see prepare_rebuild.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nash_index/code_index.hpp"
#include "nash_index/index_file.hpp"
#include "nash_index/index_kinds.hpp"

namespace nash_index {

class SubstringLayout;  // mih_table.hpp

// Substrings (and table keys) have at most this many bits: keys are uint32.
constexpr int kMaxSubstringBits = 32;

// When a query batch goes to the flat scan instead of the tables.
enum class ScanFallback : int { Auto = 0, Never = 1, Always = 2 };
// The modes' names in enum order ("auto", "never", "always"): the one list
// that the binding and Python check against.
const std::vector<std::string>& scan_fallback_names();
const std::string& scan_fallback_name(ScanFallback fallback);
// std::invalid_argument naming the choices for anything else.
ScanFallback parse_scan_fallback(const std::string& name);

// Tunables of the scan fallback (see MultiIndexHashing::search).
struct MihParams {
  ScanFallback fallback = ScanFallback::Auto;
  // Cost model in "candidate units" (one verified candidate = 1): the cost of
  // one bucket probe, and of one code read by the scan per query, single
  // query and inside a batch (a blocked scan reuses each code across queries).
  // bench/bench_mih.py --calibrate --n 10M (2-core AMD EPYC, AVX-512): 1.87 / 0.0215 / 0.0131.
  double probe_cost = 1.9;
  double scan_cost_single = 0.022;   // per 64-bit word of a code
  double scan_cost_batch = 0.012;
};

class MultiIndexHashing : public CodeIndex {
 public:
  static constexpr uint32_t kTag = 2;  // on disk (index_kinds.hpp)
  static constexpr size_t kMaxCodes = 0xFFFFFFFFu;  // the tables hold uint32 positions

  // m == 0: automatic (see auto_m). max_key_bits > 0 keys each table by at
  // most that many bits of its substring: smaller tables (see TableShape in
  // mih_table.hpp), weaker pruning; 0 keys by the whole substring.
  explicit MultiIndexHashing(int nbits, int m = 0, int max_key_bits = 0);
  // The constructor's checks of its arguments (std::invalid_argument), for
  // code that writes an index of these settings without making one.
  static void check_settings(int nbits, int m, int max_key_bits);
  // std::invalid_argument unless `more` codes fit beside `count` (kMaxCodes).
  static void require_room(size_t count, size_t more);
  // The registry's factory: options "m" and "max_key_bits" as in the constructor.
  static std::unique_ptr<CodeIndex> create(int nbits, IndexOptions& options);
  ~MultiIndexHashing() override;  // out of line: Tables and Scratch are complete only in the sources
  uint32_t kind() const override { return kTag; }

  int m() const;
  bool m_is_auto() const { return m_requested_ == 0; }
  int max_key_bits() const { return max_key_bits_; }
  int substring_bits(int j) const;
  // Live codes covered by the tables: store positions [0, indexed()); the rest is the tail.
  size_t indexed() const { return indexed_; }
  // Removed codes that the tables still list (skipped by queries) until the next rebuild.
  size_t tombstones() const;
  // Table segments: the main one, then deltas over codes added since (see tail_too_long in mih.cpp).
  size_t segments() const { return segments_.size(); }
  // Bytes held by the tables (codes and ids excluded).
  size_t table_bytes() const;

  MihParams params() const;
  void set_params(const MihParams& p);

  // add and remove never rebuild the tables (see needs_rebuild). add appends to
  // the tail; remove costs what FlatIndex's does (the store is compacted, order
  // kept) plus O(n / 64) for the tombstones.
  void add(const uint8_t* codes, size_t n, const idx_t* ids) override;
  size_t remove(const idx_t* ids, size_t n) override;
  void reset() override;
  // Rebuilds every table over all codes now, with m revised when automatic (0)
  // or set to `m` otherwise (m < 0 keeps the current request).
  void optimize(int m = -1);

  // CodeIndex's upkeep: a rebuild is due once the tail passes 1/16 of the
  // tables or 2^20 codes, or the tombstones 1/8 (needs_rebuild); it builds new
  // tables over the current codes, or a delta segment over the tail. Tables
  // prepared before a removal, reset, m request or install are refused (positions
  // moved); codes added meanwhile simply stay in the tail.
  struct Rebuild;
  std::unique_ptr<Upkeep> prepare_upkeep(bool force) const override;
  bool install_upkeep(Upkeep& prepared) override;
  // Sets the m used by the next rebuild, like optimize(m) without rebuilding.
  void request_m(int m);

  // `work`, when given, receives nq entries (candidates count the tail too).
  void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
              SearchWork* work = nullptr) const override;
  RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                           SearchWork* work = nullptr) const override;

  static std::unique_ptr<MultiIndexHashing> load(const std::shared_ptr<IndexFile>& file);

  // Substrings of about log2(n) bits (each bucket then holds ~1 code on
  // uniform data): m = round(nbits / log2(n)), at least ceil(nbits / 32),
  // at most nbits / 8 (n counts as >= 256).
  static int auto_m(int nbits, size_t n);

  // Up to this many table positions (default 2^16) a query marks the codes it
  // met in a bitmap (n / 8 bytes per thread). Above it, a code met again in a
  // later table is recognised from its own substrings: no memory per code,
  // one check per code that would enter the result. The bitmap's random
  // accesses cost more than the second look at a code they spare once it
  // outgrows L1 (clustered codes, 2 cores: 10^7 codes 1.2-1.4x the q/s
  // without it, 2 * 10^6 1.05-1.2x, 2 * 10^4 about even). Process-wide; for
  // tests and benchmarks.
  static size_t visited_bitmap_limit();
  static void set_visited_bitmap_limit(size_t positions);
  // How a walk probes its tables: 1 (default) radius by radius, prefix by
  // prefix where that saves lookups, in a software pipeline (offsets fetched
  // 2D lookups ahead, suffixes D ahead, positions a few matches ahead); 0 the
  // loop before it (one bucket per key, offsets 8 ahead, then dependent
  // misses), kept as the benchmarks' reference. Process-wide.
  static int probe_pipeline();
  static void set_probe_pipeline(int mode);
  // A single query's radius of at least this many table lookups (per table
  // and segment) is walked in chunks on the pool's threads, while fewer
  // MultiIndexHashing searches run than the pool has threads (num_threads = 1
  // never splits). Process-wide; for tests and benchmarks.
  static size_t split_min_probes();
  static void set_split_min_probes(size_t masks);
  // Radii enumerated in parallel chunks since the process started.
  static uint64_t split_radii();
  // The longest tail (default 2^20 codes) before tables are built over it;
  // process-wide, for tests and benchmarks.
  static size_t max_tail();
  static void set_max_tail(size_t codes);

  struct Tables;   // the substring layout and one bucket table per substring
  struct Scratch;  // per-thread query state (visited bitmap, candidate list)

 private:
  bool needs_rebuild() const;
  std::unique_ptr<Rebuild> prepare_rebuild() const;
  // The old tables move into `built`, to be freed after the lock is released.
  bool install(Rebuild& built);
  MultiIndexHashing(const std::shared_ptr<IndexFile>& file, int m_requested, int max_key_bits);
  void add_sections(FileSections& out) const override;
  std::vector<uint64_t> deltas_section() const;
  int target_m() const;  // m of the next build
  void rebuild(int m);
  std::unique_ptr<Rebuild> build_aside(int m) const;  // new tables over every code, not yet installed
  bool tail_too_long() const;
  bool too_many_tombstones() const;
  size_t delta_start() const;
  int delta_plan() const;
  // `dead`: each segment's saved tombstone bitmap (mih_file.cpp), empty when the file has none.
  void load_deltas(const std::shared_ptr<IndexFile>& file, const SubstringLayout& layout,
                   const std::vector<std::vector<uint64_t>>& dead);
  std::vector<uint32_t> meta() const;  // the metadata section
  bool scan_everything(size_t k) const;
  double query_budget(size_t nq) const;  // candidate units a walk may spend in a batch of nq
  bool skip_tables_for_single_query() const;
  void note_single_query(bool completed) const;
  template <class Queries>
  void answer(Queries& queries, size_t nq, int num_threads, SearchWork* work) const;  // mih_search.cpp

  int m_requested_;
  int max_key_bits_;
  std::vector<std::unique_ptr<Tables>> segments_;  // never empty once constructed
  size_t indexed_ = 0;  // store positions [0, indexed_) are in the tables
  uint64_t version_ = 0;  // bumped whenever store positions or the tables change, adds aside
  MihParams params_;
  // Single queries that passed their budget in a row: after a few, queries go
  // straight to the scan except one in kReprobeEvery (the data may change).
  mutable std::atomic<int> abort_streak_{0};
  mutable std::atomic<uint32_t> skipped_{0};
  mutable std::mutex scratch_mutex_;
  mutable std::vector<std::unique_ptr<Scratch>> scratch_pool_;
};

struct MultiIndexHashing::Rebuild : CodeIndex::Upkeep {
  Rebuild();
  ~Rebuild() override;  // out of line: Tables is complete only in the sources
  std::unique_ptr<Tables> tables;
  size_t first_segment = 0;  // the segments it replaces: [first_segment, end); 0 = all
  size_t indexed = 0;        // codes covered: store positions [0, indexed)
  uint64_t version = 0;      // of the index when prepared
  std::vector<std::unique_ptr<Tables>> replaced;  // moved out by install, freed with this
};

}  // namespace nash_index
