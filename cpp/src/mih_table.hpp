// Building blocks of multi-index hashing: how a code splits into substrings,
// one compact table per substring mapping a substring value to the positions
// of the codes that carry it, and the tombstones of removed codes.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "nash_index/mih.hpp"  // kMaxSubstringBits
#include "packed_bits.hpp"

namespace nash_index {

// A file build's progress counter doubles as its cancel flag (MihFileBuilder::cancel
// sets this bit): the table builds stop within a progress step (2^20 codes).
constexpr uint64_t kProgressCancelled = uint64_t{1} << 63;
struct BuildCancelled : std::runtime_error {
  BuildCancelled() : std::runtime_error("the MIH file build was cancelled") {}
};
inline void report_progress(std::atomic<uint64_t>* progress, uint64_t codes) {
  if (progress && (progress->fetch_add(codes, std::memory_order_relaxed) & kProgressCancelled)) throw BuildCancelled();
}

// m disjoint bit ranges covering the whole code, in order; lengths differ by at
// most one (the first nbits % m substrings get the extra bit). Bit i of a code
// is bit i % 8 of byte i / 8.
class SubstringLayout {
 public:
  SubstringLayout() = default;
  SubstringLayout(int nbits, int m);

  int m() const { return static_cast<int>(length_.size()); }
  int length(int j) const { return length_[static_cast<size_t>(j)]; }
  int max_length() const { return length_.empty() ? 0 : length_.front(); }
  // Value of substring j of `code` (a code of code_size bytes).
  uint32_t extract(const uint8_t* code, size_t code_size, int j) const;

 private:
  std::vector<int> begin_bit_;
  std::vector<int> length_;
};

// The shape of one table over n codes. The key (the substring, or its low
// key_bits bits) splits into a prefix, which indexes a packed array of bucket
// offsets (2^prefix_bits + 1 of them, about one per 8 codes), and a suffix
// stored beside each entry; entries are sorted by key, positions increasing
// within a key. Positions and offsets take ceil(log2(n)) bits each, so the
// tables of 10^9 64-bit codes (m = 2) hold about 1.2x the code bytes where
// uint32 positions and a dense 2^32 offset array would need 9x.
struct TableShape {
  int key_bits = 0, prefix_bits = 0, offset_width = 1, position_width = 1;
  uint64_t entries = 0;

  static TableShape for_codes(int key_bits, uint64_t n);
  int suffix_bits() const { return key_bits - prefix_bits; }
  uint64_t prefixes() const { return uint64_t{1} << prefix_bits; }
  uint64_t offsets_bytes() const { return packed_bytes(prefixes() + 1, offset_width); }
  uint64_t positions_bytes() const { return packed_bytes(entries, position_width); }
  uint64_t suffixes_bytes() const { return suffix_bits() > 0 ? packed_bytes(entries, suffix_bits()) : 0; }
  uint64_t bytes() const { return offsets_bytes() + positions_bytes() + suffixes_bytes(); }
};

// Read-only view of one table's arrays (laid out by TableShape: offsets,
// positions, suffixes, each a multiple of 8 bytes, back to back). The arrays
// may come from a file mapped without verification: offsets are clamped to
// the entries, so a corrupted table gives wrong candidates, never a bad read.
class BucketTable {
 public:
  struct Range {
    uint64_t begin, end;  // entries [begin, end)
  };

  BucketTable() = default;
  BucketTable(const TableShape& shape, const uint8_t* arrays);

  // Fills `arrays` (TableShape::bytes(), zeroed) with the table of substring
  // j of codes [0, n); adds to *progress as codes pass (3 passes) and stops
  // (BuildCancelled) at a report that finds kProgressCancelled set in it.
  static void build(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j,
                    const TableShape& shape, uint8_t* arrays, std::atomic<uint64_t>* progress);

  const TableShape& shape() const { return shape_; }
  Range bucket(uint32_t value) const;
  // The probe walk's steps (mih_prefix_walk.hpp), inline: they run once per
  // lookup, up to 10^6 times per query. A prefix's entries (reads the offsets),
  // an entry's suffix, and the bucket of a key among its prefix's entries
  // (bucket(value) = bucket_in(value, prefix_entries(value >> suffix_bits()))).
  int suffix_bits() const { return suffix_bits_; }
  Range prefix_entries(uint64_t p) const {
    const uint64_t end = std::min<uint64_t>(offsets_.get(p + 1), shape_.entries);
    return {std::min<uint64_t>(offsets_.get(p), end), end};
  }
  // Both offsets prefix_entries(p) reads (they straddle a cache line ~1 time in 6).
  void prefetch_prefix(uint64_t p) const {
    offsets_.prefetch(p);
    offsets_.prefetch(p + 1);
  }
  uint64_t suffix(uint64_t entry) const { return suffixes_.get(entry); }
  Range bucket_in(uint32_t value, Range r) const {
    if (suffix_bits_ == 0) return r;
    const uint64_t suffix = value & ((uint64_t{1} << suffix_bits_) - 1);
    // Suffixes increase within the prefix: a short run is read in order up to
    // the suffix (measured faster than counting the whole run without
    // branches: ~8-12 entries), a long one (clustered codes) is bisected.
    constexpr uint64_t kLinear = 16;
    if (r.end - r.begin <= kLinear) {
      while (r.begin < r.end && suffixes_.get(r.begin) < suffix) ++r.begin;
      uint64_t e = r.begin;
      while (e < r.end && suffixes_.get(e) == suffix) ++e;
      return {r.begin, e};
    }
    auto first_at_least = [&](uint64_t lo, uint64_t hi, uint64_t target) {
      while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        if (suffixes_.get(mid) < target) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const uint64_t begin = first_at_least(r.begin, r.end, suffix);
    return {begin, first_at_least(begin, r.end, suffix + 1)};
  }
  // Starts pulling the suffixes of a prefix's entries (first and last: a
  // prefix of ~8 entries spans one or two cache lines).
  void prefetch_suffixes(Range r) const {
    if (suffix_bits_ == 0 || r.begin == r.end) return;
    suffixes_.prefetch(r.begin);
    suffixes_.prefetch(r.end - 1);
  }
  void prefetch_positions(Range r) const {
    positions_.prefetch(r.begin);
    positions_.prefetch(r.end - 1);
  }
  uint64_t position(uint64_t entry) const { return positions_.get(entry); }
  void prefetch(uint32_t value) const { offsets_.prefetch(uint64_t{value} >> suffix_bits_); }
  void prefetch_entry(uint64_t entry) const { positions_.prefetch(entry); }
  // Cost of for_each_value, in slots read.
  uint64_t value_slots() const { return shape_.entries + shape_.prefixes(); }
  // Calls fn(value, range) for every key that holds codes. Used instead of
  // enumerating masks when a radius has more masks than the table has slots.
  template <class Fn>
  void for_each_value(Fn&& fn) const {
    for (uint64_t p = 0; p < shape_.prefixes(); ++p) {
      Range r = prefix_range(p);
      while (r.begin < r.end) {  // one run of equal suffixes (the whole prefix when there are none)
        uint64_t suffix = 0, e = r.end;
        if (suffix_bits_) {
          suffix = suffixes_.get(r.begin);
          for (e = r.begin + 1; e < r.end && suffixes_.get(e) == suffix;) ++e;
        }
        fn(static_cast<uint32_t>(p << suffix_bits_ | suffix), Range{r.begin, e});
        r.begin = e;
      }
    }
  }

 private:
  Range prefix_range(uint64_t prefix) const;

  TableShape shape_;
  int suffix_bits_ = 0;
  PackedReader offsets_, positions_, suffixes_;
};

// Table positions removed since the tables were built. Removals compact the
// code store (order kept) but leave the tables alone, so a live table position
// p holds the code now at store position p - (dead positions before p): a
// rank over a bitmap with per-word counts (n / 64 * 12 bytes, cache resident).
class Tombstones {
 public:
  explicit Tombstones(size_t positions = 0) : n_(positions) {}

  size_t count() const { return count_; }
  // Whether table position p is live; if so, *at receives its store position.
  bool live(uint32_t p, uint32_t* at) const {
    if (count_ == 0) {
      *at = p;
      return true;
    }
    const uint64_t word = bits_[p >> 6], bit = uint64_t{1} << (p & 63);
    if (word & bit) return false;
    *at = p - before_[p >> 6] - static_cast<uint32_t>(__builtin_popcountll(word & (bit - 1)));
    return true;
  }
  // Table position of the live code at store position `rank` (< live count): O(log n).
  uint32_t select_live(size_t rank) const;
  // Marks live table positions dead (any order, no repeats): O(n / 64).
  void mark(const std::vector<uint32_t>& positions);
  size_t memory_bytes() const { return bits_.capacity() * sizeof(uint64_t) + before_.capacity() * sizeof(uint32_t); }
  size_t positions() const { return n_; }
  // The bitmap (bit p: table position p is dead), empty while none is: what files save.
  const std::vector<uint64_t>& words() const { return bits_; }
  // Tombstones of `positions` table positions from saved words (none, or
  // ceil(positions / 64) with no bit at or past `positions`); false otherwise.
  static bool from_words(size_t positions, std::vector<uint64_t> words, Tombstones* out);

 private:
  size_t n_;
  size_t count_ = 0;
  std::vector<uint64_t> bits_;    // allocated by the first mark
  std::vector<uint32_t> before_;  // dead positions in the words before each word
};

}  // namespace nash_index
