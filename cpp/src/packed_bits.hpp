// Unsigned integers of a fixed width (1..57 bits) packed back to back,
// little-endian, in a byte buffer. A read is one unaligned 8-byte load, a
// shift and a mask, so the buffer carries one spare word after the last value
// (packed_bytes counts it). Used by the multi-index tables, whose positions
// and offsets need only ceil(log2(n)) bits each.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nash_index {

constexpr int kMaxPackedWidth = 57;  // a value plus its bit shift fits one 8-byte load

// Bytes holding n values of `width` bits, padding included (a multiple of 8).
inline uint64_t packed_bytes(uint64_t n, int width) { return ((n * uint64_t(width) + 63) / 64 + 1) * 8; }

// Bits needed to hold every value in [0, max_value] (at least 1).
inline int bits_for(uint64_t max_value) {
  int bits = 1;
  while (bits < 64 && (max_value >> bits) != 0) ++bits;
  return bits;
}

class PackedReader {
 public:
  PackedReader() = default;
  PackedReader(const uint8_t* data, int width)
      : data_(data), width_(width), mask_(width >= 64 ? ~0ull : (uint64_t{1} << width) - 1) {}
  uint64_t get(uint64_t i) const {
    const uint64_t bit = i * uint64_t(width_);
    uint64_t word;
    std::memcpy(&word, data_ + (bit >> 3), 8);
    return (word >> (bit & 7)) & mask_;
  }
  // Starts pulling the bytes that get(i) reads.
  void prefetch(uint64_t i) const { __builtin_prefetch(data_ + ((i * uint64_t(width_)) >> 3)); }
  int width() const { return width_; }

 private:
  const uint8_t* data_ = nullptr;
  int width_ = 1;
  uint64_t mask_ = 1;
};

// Writes values into a zeroed or previously written buffer. Neighbouring
// values share bytes: one writer per buffer at a time.
class PackedWriter {
 public:
  PackedWriter(uint8_t* data, int width)
      : data_(data), width_(width), mask_((uint64_t{1} << width) - 1) {}
  void set(uint64_t i, uint64_t value) const {
    const uint64_t bit = i * uint64_t(width_);
    uint8_t* at = data_ + (bit >> 3);
    const int shift = static_cast<int>(bit & 7);
    uint64_t word;
    std::memcpy(&word, at, 8);
    word = (word & ~(mask_ << shift)) | ((value & mask_) << shift);
    std::memcpy(at, &word, 8);
  }

 private:
  uint8_t* data_;
  int width_;
  uint64_t mask_;
};

}  // namespace nash_index
