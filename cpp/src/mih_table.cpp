#include "mih_table.hpp"

#include <algorithm>
#include <cstring>

#include "nash_index/common.hpp"

namespace nash_index {
SubstringLayout::SubstringLayout(int nbits, int m) {
  require(m >= 1 && m <= nbits, "m must be between 1 and nbits (" + std::to_string(nbits) + "), got " +
                                    std::to_string(m));
  const int base = nbits / m, extra = nbits % m;
  require(base + (extra ? 1 : 0) <= kMaxSubstringBits,
          "m = " + std::to_string(m) + " gives substrings longer than 32 bits for " + std::to_string(nbits) +
              "-bit codes; use m >= " + std::to_string((nbits + kMaxSubstringBits - 1) / kMaxSubstringBits));
  int bit = 0;
  for (int j = 0; j < m; ++j) {
    const int len = base + (j < extra ? 1 : 0);
    begin_bit_.push_back(bit);
    length_.push_back(len);
    bit += len;
  }
}

uint32_t SubstringLayout::extract(const uint8_t* code, size_t code_size, int j) const {
  // A substring of <= 32 bits starting at any bit spans at most 5 bytes.
  const size_t first = static_cast<size_t>(begin_bit_[static_cast<size_t>(j)]) / 8;
  const int shift = begin_bit_[static_cast<size_t>(j)] % 8;
  uint64_t word = 0;
  std::memcpy(&word, code + first, std::min<size_t>(8, code_size - first));  // little-endian hosts
  const int len = length_[static_cast<size_t>(j)];
  return static_cast<uint32_t>((word >> shift) & ((uint64_t{1} << len) - 1));
}

bool dense_table_fits(int bits, size_t n) { return bits <= 16 || (uint64_t{1} << bits) <= 4 * uint64_t(n); }

void BucketTable::clear() {
  starts_ = {};
  positions_ = {};
  slots_ = {};
}

void BucketTable::build(const uint8_t* codes, size_t code_size, size_t n, const SubstringLayout& layout, int j) {
  clear();
  bits_ = layout.length(j);
  dense_ = dense_table_fits(bits_, n);
  if (dense_) build_dense(codes, code_size, n, layout, j);
  else build_hashed(codes, code_size, n, layout, j);
}

// Counting sort: counts shifted by one, prefix sums, then placement moves each
// start to the next bucket's, and a final shift restores them.
void BucketTable::build_dense(const uint8_t* codes, size_t code_size, size_t n, const SubstringLayout& layout,
                              int j) {
  const size_t nvalues = size_t{1} << bits_;
  starts_.assign(nvalues + 1, 0);
  for (size_t i = 0; i < n; ++i) ++starts_[layout.extract(codes + i * code_size, code_size, j) + 1];
  for (size_t v = 1; v <= nvalues; ++v) starts_[v] += starts_[v - 1];
  positions_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t value = layout.extract(codes + i * code_size, code_size, j);
    positions_[starts_[value]++] = static_cast<uint32_t>(i);
  }
  for (size_t v = nvalues; v > 0; --v) starts_[v] = starts_[v - 1];
  starts_[0] = 0;
}

void BucketTable::build_hashed(const uint8_t* codes, size_t code_size, size_t n, const SubstringLayout& layout,
                               int j) {
  std::vector<uint64_t> keyed(n);  // value << 32 | position: sorting groups values, positions stay increasing
  for (size_t i = 0; i < n; ++i)
    keyed[i] = uint64_t{layout.extract(codes + i * code_size, code_size, j)} << 32 | i;
  std::sort(keyed.begin(), keyed.end());
  positions_.resize(n);
  std::vector<uint32_t> values;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t value = static_cast<uint32_t>(keyed[i] >> 32);
    if (i == 0 || value != values.back()) {
      values.push_back(value);
      starts_.push_back(static_cast<uint32_t>(i));
    }
    positions_[i] = static_cast<uint32_t>(keyed[i]);
  }
  starts_.push_back(static_cast<uint32_t>(n));
  int log_slots = 4;
  while ((size_t{1} << log_slots) < 2 * values.size()) ++log_slots;  // load factor <= 1/2
  hash_shift_ = 64 - log_slots;
  slots_.assign(size_t{1} << log_slots, kEmptySlot);
  const size_t mask = slots_.size() - 1;
  for (size_t r = 0; r < values.size(); ++r) {
    size_t s = slot_of(values[r]);
    while (slots_[s] != kEmptySlot) s = (s + 1) & mask;
    slots_[s] = uint64_t{values[r]} << 32 | r;
  }
}

BucketTable::Bucket BucketTable::hashed_bucket(uint32_t value) const {
  const size_t mask = slots_.size() - 1;
  const uint32_t* p = positions_.data();
  for (size_t s = slot_of(value);; s = (s + 1) & mask) {
    const uint64_t slot = slots_[s];
    if (slot == kEmptySlot) return {p, p};
    if (static_cast<uint32_t>(slot >> 32) == value) {
      const uint32_t rank = static_cast<uint32_t>(slot);
      return {p + starts_[rank], p + starts_[rank + 1]};
    }
  }
}

uint32_t Tombstones::select_live(size_t rank) const {
  if (count_ == 0) return static_cast<uint32_t>(rank);
  // Last word whose live positions before it are <= rank: the target is in it.
  size_t lo = 0, hi = bits_.size();
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (64 * mid - before_[mid] <= rank) lo = mid;
    else hi = mid;
  }
  uint64_t live = ~bits_[lo];
  for (size_t skip = rank - (64 * lo - before_[lo]); skip > 0; --skip) live &= live - 1;
  return static_cast<uint32_t>(64 * lo + static_cast<size_t>(__builtin_ctzll(live)));
}

void Tombstones::mark(const std::vector<uint32_t>& positions) {
  if (positions.empty()) return;
  if (bits_.empty()) {
    bits_.assign((n_ + 63) / 64, 0);
    before_.assign(bits_.size(), 0);
  }
  size_t first = bits_.size();
  for (const uint32_t p : positions) {
    bits_[p >> 6] |= uint64_t{1} << (p & 63);
    first = std::min<size_t>(first, p >> 6);
  }
  for (size_t w = first + 1; w < bits_.size(); ++w)
    before_[w] = before_[w - 1] + static_cast<uint32_t>(__builtin_popcountll(bits_[w - 1]));
  count_ += positions.size();
}

}  // namespace nash_index
