// Exact-match lookup of packed codes for DedupIndex: an open-addressing hash
// table whose slots hold group + 1 (0 = empty), at most half full, owned or
// read in place from a mapped file. The codes themselves live elsewhere (the
// inner index): `code_of(g)` gives group g's code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace nash_index {

inline uint64_t mix_bits(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t hash_code(const uint8_t* code, size_t bytes) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ bytes;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, code + i, 8);
    h = mix_bits(h ^ word);
  }
  uint64_t rest = 0;
  std::memcpy(&rest, code + i, bytes - i);
  return mix_bits(h ^ rest);
}

class CodeLookup {
 public:
  static constexpr uint32_t kAbsent = 0xFFFFFFFFu;
  static constexpr size_t kMinSlots = 64;

  explicit CodeLookup(size_t code_size) : code_size_(code_size) {
    owned_.assign(kMinSlots, 0);
    point_at_owned();
  }

  // The group of `code` among `groups`, or kAbsent. Entries beyond `groups`
  // (a crafted file) never match, and a probe ends after every slot.
  template <class CodeOf>
  uint32_t find(const uint8_t* code, const CodeOf& code_of, size_t groups) const {
    const size_t mask = nslots_ - 1;
    size_t slot = hash_code(code, code_size_) & mask;
    for (size_t step = 0; step < nslots_; ++step, slot = (slot + 1) & mask) {
      const uint32_t entry = slots_[slot];
      if (entry == 0) return kAbsent;
      if (entry - 1 < groups && std::memcmp(code_of(entry - 1), code, code_size_) == 0) return entry - 1;
    }
    return kAbsent;
  }

  // Adds `code` (absent) as group `g`; grows (rehashing through code_of) past half full.
  template <class CodeOf>
  void insert(const uint8_t* code, uint32_t g, const CodeOf& code_of) {
    if (slots_ != owned_.data()) rebuild(used_, code_of);  // a mapped table is not trusted to have room
    if (2 * (used_ + 1) > nslots_) {
      std::vector<uint32_t> old;
      old.swap(owned_);
      owned_.assign(nslots_ * 2, 0);
      point_at_owned();
      for (uint32_t entry : old)
        if (entry) owned_[empty_slot(code_of(entry - 1))] = entry;
    }
    owned_[empty_slot(code)] = g + 1;
    ++used_;
  }

  // Groups 0..groups-1, afresh.
  template <class CodeOf>
  void rebuild(size_t groups, const CodeOf& code_of) {
    size_t slots = kMinSlots;
    while (slots < 2 * groups + 2) slots *= 2;
    owned_.assign(slots, 0);
    point_at_owned();
    used_ = groups;
    for (size_t g = 0; g < groups; ++g) owned_[empty_slot(code_of(g))] = static_cast<uint32_t>(g + 1);
  }

  // Reads `nslots` slots in place (a power of two, at least twice `used`): checked by the caller.
  void borrow(const uint32_t* slots, size_t nslots, size_t used) {
    owned_.clear();
    owned_.shrink_to_fit();
    slots_ = slots;
    nslots_ = nslots;
    used_ = used;
  }

  const uint32_t* data() const { return slots_; }
  size_t size() const { return nslots_; }

 private:
  void point_at_owned() {
    slots_ = owned_.data();
    nslots_ = owned_.size();
  }
  size_t empty_slot(const uint8_t* code) const {
    const size_t mask = nslots_ - 1;
    size_t slot = hash_code(code, code_size_) & mask;
    while (owned_[slot] != 0) slot = (slot + 1) & mask;
    return slot;
  }

  size_t code_size_;
  const uint32_t* slots_ = nullptr;
  size_t nslots_ = 0;
  size_t used_ = 0;
  std::vector<uint32_t> owned_;
};

}  // namespace nash_index
