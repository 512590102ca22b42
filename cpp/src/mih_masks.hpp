// The masks of one substring radius (internal to the MIH probe walk): every
// `len`-bit mask of popcount r, in increasing order, from any rank on (so
// that threads can enumerate disjoint chunks of one radius).
#pragma once
#include <cstdint>

namespace nash_index {

// C(n, r) exactly (n <= 64 and results below 2^63; every step's product is divisible).
inline uint64_t choose(int n, int r) {
  if (r < 0 || r > n) return 0;
  uint64_t c = 1;
  for (int i = 1; i <= r; ++i) c = c * uint64_t(n - r + i) / uint64_t(i);
  return c;
}

// Bits set in x (no POPCNT assumed in this translation unit).
inline int popcount32(uint32_t x) {
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  return static_cast<int>((((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24);
}

// The mask of rank `rank` among the popcount-r masks in increasing order
// (colex order of r-subsets: the largest bit c with C(c, r) <= rank, then the
// rest of the rank among r - 1 bits below it).
inline uint64_t mask_of_rank(int len, int r, uint64_t rank) {
  uint64_t mask = 0;
  for (int i = r; i >= 1; --i) {
    int c = i - 1;
    while (c + 1 < len && choose(c + 1, i) <= rank) ++c;
    mask |= uint64_t{1} << c;
    rank -= choose(c, i);
  }
  return mask;
}

// Gosper's hack from a starting mask. `divide` keeps the previous step (a
// 64-bit division per mask) for the reference loop; the default shifts by
// the lowest bit's index instead (same masks).
class MaskWalk {
 public:
  MaskWalk(int len, int r) : MaskWalk(len, r, r == 0 ? 0 : (uint64_t{1} << r) - 1) {}
  MaskWalk(int len, int r, uint64_t first) : end_(uint64_t{1} << len), mask_(first), zero_(r == 0) {}
  bool valid() const { return mask_ < end_; }
  uint32_t value() const { return static_cast<uint32_t>(mask_); }
  void next() {
    if (zero_) {
      mask_ = end_;
      return;
    }
    const uint64_t ripple = mask_ + (mask_ & (~mask_ + 1));
    mask_ = (((ripple ^ mask_) >> 2) >> __builtin_ctzll(mask_)) | ripple;
  }
  void next_by_division() {
    if (zero_) {
      mask_ = end_;
      return;
    }
    const uint64_t low = mask_ & (~mask_ + 1);
    const uint64_t ripple = mask_ + low;
    mask_ = (((ripple ^ mask_) >> 2) / low) | ripple;
  }

 private:
  uint64_t end_, mask_;
  bool zero_;
};

}  // namespace nash_index
