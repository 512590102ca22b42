// Writers that fill memory in order, for the partitioned MIH table build
// (mih_partition.cpp): packed values a word at a time, and write-combined
// scatter into many runs at once.
#pragma once
#include <emmintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace nash_index {

// Appends values of `width` bits to a zeroed packed array from entry `first`
// on, a whole 64-bit word at a time. Its first and last words may hold bits of
// neighbouring ranges: those are OR-ed atomically, so threads may fill
// adjacent ranges at once (every other word belongs to this range alone).
class PackedAppender {
 public:
  PackedAppender(uint8_t* data, int width, uint64_t first)
      : words_(reinterpret_cast<uint64_t*>(data)), width_(width) {
    const uint64_t bit = first * uint64_t(width);
    word_ = bit >> 6;
    fill_ = static_cast<int>(bit & 63);
    shared_ = fill_ != 0;
  }
  void push(uint64_t value) {
    acc_ |= value << fill_;
    fill_ += width_;
    if (fill_ >= 64) {
      store(acc_);
      fill_ -= 64;
      acc_ = value >> (width_ - fill_);  // the bits that did not fit (none when fill_ is 0)
    }
  }
  // Stores the last, partial word.
  void finish() {
    if (fill_ > 0) {
      shared_ = true;
      store(acc_);
    }
  }

 private:
  void store(uint64_t bits) {
    if (shared_) __atomic_fetch_or(&words_[word_], bits, __ATOMIC_RELAXED);
    else words_[word_] = bits;
    ++word_;
    shared_ = false;
  }

  uint64_t* words_;
  int width_;
  uint64_t word_ = 0, acc_ = 0;
  int fill_ = 0;
  bool shared_ = false;
};

// Software write-combining for the scatter: entries gather per partition in a
// buffer line that mirrors the destination's cache line and leave as a whole
// line with streaming stores (no read of the line first), so a few thousand
// open partitions cost L2 space rather than cache and TLB misses. A run's first
// and last lines, shared with neighbouring runs, are written entry by entry.
class CombiningWriter {
 public:
  // next[t]: target t's next entry in dst (64-byte aligned).
  CombiningWriter(uint64_t* dst, const uint64_t* next, uint64_t targets)
      : dst_(dst), lines_(targets), state_(targets) {
    for (uint64_t t = 0; t < targets; ++t) {
      state_[t].line = next[t] / kPerLine;
      state_[t].fill = state_[t].head = static_cast<uint8_t>(next[t] % kPerLine);
    }
  }
  void push(uint64_t target, uint64_t entry) {
    State& s = state_[target];
    Line& line = lines_[target];
    line.v[s.fill++] = entry;
    if (s.fill < kPerLine) return;
    uint64_t* at = dst_ + s.line * kPerLine;
    if (s.head == 0) {
      for (int k = 0; k < 4; ++k)
        _mm_stream_si128(reinterpret_cast<__m128i*>(at) + k, _mm_load_si128(reinterpret_cast<const __m128i*>(line.v) + k));
    } else {
      std::memcpy(at + s.head, line.v + s.head, (kPerLine - s.head) * sizeof(uint64_t));
      s.head = 0;
    }
    ++s.line;
    s.fill = 0;
  }
  // Writes the partial last lines; the streamed lines are ordered before what follows.
  void flush() {
    for (uint64_t t = 0; t < lines_.size(); ++t) {
      State& s = state_[t];
      std::memcpy(dst_ + s.line * kPerLine + s.head, lines_[t].v + s.head, (s.fill - s.head) * sizeof(uint64_t));
      s.head = s.fill;
    }
    _mm_sfence();
  }

 private:
  static constexpr uint8_t kPerLine = 8;
  struct alignas(64) Line {
    uint64_t v[kPerLine];
  };
  struct State {
    uint64_t line;        // destination line being gathered
    uint8_t fill, head;   // entries [head, fill) of it are buffered
  };
  uint64_t* dst_;
  std::vector<Line> lines_;
  std::vector<State> state_;
};

}  // namespace nash_index
