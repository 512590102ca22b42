#include "mih_table.hpp"

#include <algorithm>
#include <cstring>

#include "build_trace.hpp"
#include "huge_pages.hpp"
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

TableShape TableShape::for_codes(int key_bits, uint64_t n) {
  TableShape s;
  s.key_bits = key_bits;
  s.entries = n;
  // About 8 codes per prefix on uniform data: the offsets then cost a few
  // bits per code, and a bucket's suffixes fit a cache line or two.
  const int log_n = n > 1 ? 63 - __builtin_clzll(n) : 0;
  s.prefix_bits = std::min(key_bits, std::max(0, log_n - 3));
  s.offset_width = bits_for(n);
  s.position_width = bits_for(n > 0 ? n - 1 : 0);
  return s;
}

BucketTable::BucketTable(const TableShape& shape, const uint8_t* arrays)
    : shape_(shape), suffix_bits_(shape.suffix_bits()),
      offsets_(arrays, shape.offset_width),
      positions_(arrays + shape.offsets_bytes(), shape.position_width),
      suffixes_(arrays + shape.offsets_bytes() + shape.positions_bytes(), std::max(1, shape.suffix_bits())) {}

BucketTable::Range BucketTable::prefix_range(uint64_t prefix) const {
  const uint64_t end = std::min<uint64_t>(offsets_.get(prefix + 1), shape_.entries);
  return {std::min<uint64_t>(offsets_.get(prefix), end), end};
}

BucketTable::Range BucketTable::bucket(uint32_t value) const {
  return bucket_in(value, prefix_range(uint64_t{value} >> suffix_bits_));  // suffix_bits_ may be 32
}

namespace {

constexpr uint64_t kProgressStep = uint64_t{1} << 20;

// Key of code i: the low key_bits bits of substring j.
struct KeyOf {
  const uint8_t* codes;
  size_t code_size;
  const SubstringLayout& layout;
  int j;
  uint32_t mask;
  uint32_t operator()(uint64_t i) const { return layout.extract(codes + i * code_size, code_size, j) & mask; }
};

// Runs fn(i) for i in [0, n), reporting progress every kProgressStep codes.
template <class Fn>
void each_code(uint64_t n, std::atomic<uint64_t>* progress, Fn&& fn) {
  for (uint64_t start = 0; start < n; start += kProgressStep) {
    const uint64_t stop = std::min(n, start + kProgressStep);
    for (uint64_t i = start; i < stop; ++i) fn(i);
    report_progress(progress, stop - start);
  }
}

// Sorts the entries of one prefix bucket by suffix (positions stay increasing
// within a suffix: the placement pass wrote them in position order).
void sort_bucket(uint64_t begin, uint64_t end, const PackedReader& suffix_in, const PackedWriter& suffix_out,
                 const PackedReader& pos_in, const PackedWriter& pos_out, std::vector<uint64_t>& scratch) {
  bool sorted = true;
  for (uint64_t e = begin + 1; e < end && sorted; ++e) sorted = suffix_in.get(e - 1) <= suffix_in.get(e);
  if (sorted) return;
  scratch.clear();
  for (uint64_t e = begin; e < end; ++e) scratch.push_back(suffix_in.get(e) << 32 | pos_in.get(e));
  std::sort(scratch.begin(), scratch.end());
  for (uint64_t e = begin; e < end; ++e) {
    suffix_out.set(e, scratch[e - begin] >> 32);
    pos_out.set(e, scratch[e - begin] & 0xFFFFFFFFu);
  }
}

}  // namespace

// A counting sort by prefix (count, offsets, placement in position order),
// then each prefix bucket sorted by suffix. The reference build: builds use
// build_table_partitioned (mih_partition.cpp, same bytes, no random accesses
// into the arrays) unless NASH_MIH_BUILD=counting, or when one partition
// outgrows its scratch (duplicated keys, where these accesses are not random).
void BucketTable::build(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j,
                        const TableShape& shape, uint8_t* arrays, std::atomic<uint64_t>* progress) {
  const uint64_t n = shape.entries;
  const int suffix_bits = shape.suffix_bits();
  const KeyOf key{codes, code_size, layout, j,
                  shape.key_bits >= 32 ? 0xFFFFFFFFu : (uint32_t{1} << shape.key_bits) - 1};
  // n < 2^32 (the MIH limit); huge pages: the counts are hit at random.
  BuildTrace trace;
  std::vector<uint32_t, HugePageAllocator<uint32_t>> next(shape.prefixes() + 1, 0);
  each_code(n, progress, [&](uint64_t i) { ++next[(uint64_t{key(i)} >> suffix_bits) + 1]; });
  for (uint64_t p = 1; p <= shape.prefixes(); ++p) next[p] += next[p - 1];
  const PackedWriter offsets(arrays, shape.offset_width);
  for (uint64_t p = 0; p <= shape.prefixes(); ++p) offsets.set(p, next[p]);
  trace.phase("count");
  uint8_t* positions_at = arrays + shape.offsets_bytes();
  uint8_t* suffixes_at = positions_at + shape.positions_bytes();
  const PackedWriter positions(positions_at, shape.position_width);
  const int suffix_width = std::max(1, suffix_bits);
  const PackedWriter suffixes(suffixes_at, suffix_width);
  const uint32_t suffix_mask = static_cast<uint32_t>((uint64_t{1} << suffix_bits) - 1);
  each_code(n, progress, [&](uint64_t i) {
    const uint32_t k = key(i);
    const uint64_t entry = next[uint64_t{k} >> suffix_bits]++;
    positions.set(entry, i);
    if (suffix_bits) suffixes.set(entry, k & suffix_mask);
  });
  decltype(next)().swap(next);
  trace.phase("place");
  if (suffix_bits == 0) {
    report_progress(progress, n);
    return;
  }
  const BucketTable view(shape, arrays);
  const PackedReader suffix_in(suffixes_at, suffix_width), pos_in(positions_at, shape.position_width);
  std::vector<uint64_t> scratch;
  uint64_t reported = 0;
  for (uint64_t p = 0; p < shape.prefixes(); ++p) {
    const Range r = view.prefix_range(p);
    if (r.end - r.begin > 1) sort_bucket(r.begin, r.end, suffix_in, suffixes, pos_in, positions, scratch);
    if (progress && r.end - reported >= kProgressStep) {
      report_progress(progress, r.end - reported);
      reported = r.end;
    }
  }
  report_progress(progress, n - reported);
  trace.phase("bucket_sort");
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

bool Tombstones::from_words(size_t positions, std::vector<uint64_t> words, Tombstones* out) {
  *out = Tombstones(positions);
  if (words.empty()) return true;
  if (words.size() != (positions + 63) / 64) return false;
  if (positions % 64 != 0 && (words.back() >> (positions % 64)) != 0) return false;  // bits past the end
  size_t count = 0;
  for (const uint64_t w : words) count += static_cast<size_t>(__builtin_popcountll(w));
  if (count == 0) return true;
  out->bits_ = std::move(words);
  out->before_.assign(out->bits_.size(), 0);
  for (size_t w = 1; w < out->bits_.size(); ++w)
    out->before_[w] = out->before_[w - 1] + static_cast<uint32_t>(__builtin_popcountll(out->bits_[w - 1]));
  out->count_ = count;
  return true;
}

}  // namespace nash_index
