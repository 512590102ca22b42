// Building blocks of multi-index hashing: how a code splits into substrings,
// and one compact table per substring mapping a substring value to the
// positions of the codes that carry it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nash_index {

constexpr int kMaxSubstringBits = 32;

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

// Positions (uint32) of the codes grouped by substring value (CSR layout).
// Dense tables index bucket starts directly by value (2^bits + 1 offsets);
// when 2^bits is much larger than the number of codes, an open-addressing
// hash of the distinct values points into the same CSR arrays instead.
class BucketTable {
 public:
  struct Bucket {
    const uint32_t* begin;
    const uint32_t* end;
  };

  // Indexes substring j of codes [0, n).
  void build(const uint8_t* codes, size_t code_size, size_t n, const SubstringLayout& layout, int j);
  void clear();

  Bucket bucket(uint32_t value) const { return dense_ ? dense_bucket(value) : hashed_bucket(value); }
  // Starts pulling the memory that bucket(value) will read.
  void prefetch(uint32_t value) const {
    if (dense_) __builtin_prefetch(starts_.data() + value);
    else __builtin_prefetch(slots_.data() + slot_of(value));
  }
  bool dense() const { return dense_; }
  // Cost of for_each_value: the slots it reads (dense: 2^bits values; hashed: hash slots).
  size_t value_slots() const { return dense_ ? starts_.size() - 1 : slots_.size(); }
  // Calls fn(value, bucket) for every value that holds codes. Used instead of
  // enumerating masks when a radius has more masks than the table has slots.
  template <class Fn>
  void for_each_value(Fn&& fn) const {
    const uint32_t* p = positions_.data();
    if (dense_) {
      for (size_t v = 0; v + 1 < starts_.size(); ++v)
        if (starts_[v] != starts_[v + 1]) fn(static_cast<uint32_t>(v), Bucket{p + starts_[v], p + starts_[v + 1]});
      return;
    }
    for (const uint64_t slot : slots_) {
      if (slot == kEmptySlot) continue;
      const uint32_t rank = static_cast<uint32_t>(slot);
      fn(static_cast<uint32_t>(slot >> 32), Bucket{p + starts_[rank], p + starts_[rank + 1]});
    }
  }
  size_t memory_bytes() const {
    return (starts_.capacity() + positions_.capacity()) * sizeof(uint32_t) + slots_.capacity() * sizeof(uint64_t);
  }

 private:
  Bucket dense_bucket(uint32_t value) const {
    const uint32_t* p = positions_.data();
    return {p + starts_[value], p + starts_[value + 1]};
  }
  Bucket hashed_bucket(uint32_t value) const;
  size_t slot_of(uint32_t value) const {
    return static_cast<size_t>((value * 0x9E3779B97F4A7C15ull) >> hash_shift_);
  }
  void build_dense(const uint8_t* codes, size_t code_size, size_t n, const SubstringLayout& layout, int j);
  void build_hashed(const uint8_t* codes, size_t code_size, size_t n, const SubstringLayout& layout, int j);

  static constexpr uint64_t kEmptySlot = ~0ull;  // a rank is < 2^32 - 1, so no real slot is all ones

  bool dense_ = true;
  int bits_ = 0;
  std::vector<uint32_t> starts_;     // dense: by value; hashed: by distinct-value rank
  std::vector<uint32_t> positions_;  // grouped by value, increasing within a group
  std::vector<uint64_t> slots_;      // hashed: value << 32 | rank, kEmptySlot when free
  int hash_shift_ = 64;
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

 private:
  size_t n_;
  size_t count_ = 0;
  std::vector<uint64_t> bits_;    // allocated by the first mark
  std::vector<uint32_t> before_;  // dead positions in the words before each word
};

// Whether a substring of `bits` bits over n codes gets a dense table (2^bits <=
// 4n): below that a hash of the distinct values would take as much memory
// (two 8-byte slots per value at load 1/2) and cost an extra random read.
bool dense_table_fits(int bits, size_t n);

}  // namespace nash_index
