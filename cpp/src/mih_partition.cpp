#include "mih_partition.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "build_trace.hpp"
#include "huge_pages.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr uint64_t kProgressStep = uint64_t{1} << 20;
constexpr int kMaxPartitionBits = 12;   // 4096 scatter targets: their open cache lines stay in L2
constexpr int kPartitionEntriesLog = 15;  // ~32K entries (256 KB) per partition: sorted in L2
// Partitions larger than this (duplicated keys) are sorted in place instead of by counting.
constexpr uint64_t kCountingSortMax = uint64_t{1} << 20;
constexpr uint64_t kDefaultScratchEntries = uint64_t{1} << 27;  // 1 GiB

// The key of a code (the low key_bits bits of substring j) with one fixed-size
// load where the code has 8 bytes from the substring's first byte on.
class KeyReader {
 public:
  KeyReader(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j, int key_bits)
      : codes_(codes), code_size_(code_size), layout_(layout), j_(j),
        mask_(key_bits >= 32 ? 0xFFFFFFFFu : (uint32_t{1} << key_bits) - 1) {
    int begin = 0;
    for (int i = 0; i < j; ++i) begin += layout.length(i);
    first_ = static_cast<size_t>(begin) / 8;
    shift_ = begin % 8;
    wide_ = code_size >= first_ + 8;
  }
  uint32_t operator()(uint64_t i) const {
    const uint8_t* code = codes_ + i * code_size_;
    if (!wide_) return layout_.extract(code, code_size_, j_) & mask_;
    uint64_t word;
    std::memcpy(&word, code + first_, 8);
    return static_cast<uint32_t>(word >> shift_) & mask_;  // substrings are <= 32 bits: no bits beyond
  }

 private:
  const uint8_t* codes_;
  size_t code_size_;
  const SubstringLayout& layout_;
  int j_;
  uint32_t mask_;
  size_t first_ = 0;
  int shift_ = 0;
  bool wide_ = false;
};

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

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  return (end && *end == '\0' && v > 0) ? v : fallback;
}

// Raw scratch for (local key << 32 | position) entries: huge pages, never zeroed.
struct Scratch {
  explicit Scratch(uint64_t entries) : size(entries), data(HugePageAllocator<uint64_t>().allocate(std::max<uint64_t>(entries, 1))) {}
  ~Scratch() { HugePageAllocator<uint64_t>().deallocate(data, size); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  uint64_t size;
  uint64_t* data;
};

// Sorts a bucket's entries (one prefix: order by suffix, then position).
void sort_bucket(uint64_t* begin, uint64_t* end) {
  if (std::is_sorted(begin, end)) return;
  if (end - begin > 32) {
    std::sort(begin, end);
    return;
  }
  for (uint64_t* i = begin + 1; i < end; ++i) {
    const uint64_t v = *i;
    uint64_t* k = i;
    for (; k > begin && k[-1] > v; --k) *k = k[-1];
    *k = v;
  }
}

// The partitions of one table: partition = the top `bits` bits of the key.
struct Plan {
  int key_bits, prefix_bits, suffix_bits, bits, local_bits;  // local_bits = key bits below the partition
  int prefix_in_part;                                         // prefix bits below the partition
  std::vector<uint64_t> counts;                               // [thread][partition], then totals
  std::vector<uint64_t> start;                                // first entry of each partition (+ n)

  uint64_t partitions() const { return uint64_t{1} << bits; }
  uint32_t part(uint32_t key) const { return static_cast<uint32_t>(uint64_t{key} >> local_bits); }
  uint64_t local(uint32_t key) const { return uint64_t{key} & ((uint64_t{1} << local_bits) - 1); }
};

Plan plan_for(const TableShape& shape) {
  Plan p;
  p.key_bits = shape.key_bits;
  p.prefix_bits = shape.prefix_bits;
  p.suffix_bits = shape.suffix_bits();
  const uint64_t n = shape.entries;
  const int log_n = n > 1 ? 63 - __builtin_clzll(n) : 0;
  p.bits = std::min({kMaxPartitionBits, shape.prefix_bits, std::max(0, log_n - kPartitionEntriesLog)});
  p.local_bits = shape.key_bits - p.bits;
  p.prefix_in_part = shape.prefix_bits - p.bits;
  return p;
}

// Code range of thread t of `threads`.
uint64_t slice_begin(uint64_t n, int threads, int t) { return n / uint64_t(threads) * uint64_t(t); }
uint64_t slice_end(uint64_t n, int threads, int t) { return t + 1 == threads ? n : slice_begin(n, threads, t + 1); }

// Runs fn(i) over [begin, end) in steps, checking for cancellation between them.
template <class Fn>
void each_code(uint64_t begin, uint64_t end, std::atomic<uint64_t>* progress, Fn&& fn) {
  for (uint64_t start = begin; start < end; start += kProgressStep) {
    const uint64_t stop = std::min(end, start + kProgressStep);
    for (uint64_t i = start; i < stop; ++i) fn(i);
    report_progress(progress, 0);
  }
}

// The per-table arrays, written in order by partition.
struct Output {
  const TableShape& shape;
  uint8_t* offsets;
  uint8_t* positions;
  uint8_t* suffixes;
};

// Per-thread buffers of the in-cache sort.
struct SortBuffers {
  std::vector<uint64_t> sorted;
  std::vector<uint32_t> bucket_start;
};

// Sorts partition q's entries (in position order in `entries`) by key and
// writes its offsets, positions and suffixes.
void finish_partition(const Plan& plan, uint64_t q, uint64_t* entries, const Output& out, SortBuffers& buf) {
  const uint64_t count = plan.start[q + 1] - plan.start[q];
  const uint64_t prefixes = uint64_t{1} << plan.prefix_in_part;
  const int sb = plan.suffix_bits;
  std::vector<uint32_t>& at = buf.bucket_start;
  at.assign(prefixes + 1, 0);
  const uint64_t* sorted = entries;
  if (count > kCountingSortMax) {
    std::sort(entries, entries + count);  // unique (key, position) pairs: the order wanted
    for (uint64_t e = 0; e < count; ++e) ++at[(entries[e] >> 32 >> sb) + 1];
    for (uint64_t p = 1; p <= prefixes; ++p) at[p] += at[p - 1];
  } else {
    for (uint64_t e = 0; e < count; ++e) ++at[(entries[e] >> 32 >> sb) + 1];
    for (uint64_t p = 1; p <= prefixes; ++p) at[p] += at[p - 1];
    buf.sorted.resize(std::max<uint64_t>(count, 1));
    uint64_t* dst = buf.sorted.data();
    std::vector<uint32_t> next(at.begin(), at.end() - 1);
    for (uint64_t e = 0; e < count; ++e) dst[next[entries[e] >> 32 >> sb]++] = entries[e];
    if (sb > 0)
      for (uint64_t p = 0; p < prefixes; ++p)
        if (at[p + 1] - at[p] > 1) sort_bucket(dst + at[p], dst + at[p + 1]);
    sorted = dst;
  }
  PackedAppender offsets(out.offsets, out.shape.offset_width, q << plan.prefix_in_part);
  for (uint64_t p = 0; p < prefixes; ++p) offsets.push(plan.start[q] + at[p]);
  offsets.finish();
  PackedAppender positions(out.positions, out.shape.position_width, plan.start[q]);
  for (uint64_t e = 0; e < count; ++e) positions.push(sorted[e] & 0xFFFFFFFFu);
  positions.finish();
  if (sb == 0) return;
  PackedAppender suffixes(out.suffixes, sb, plan.start[q]);
  const uint64_t suffix_mask = (uint64_t{1} << sb) - 1;
  for (uint64_t e = 0; e < count; ++e) suffixes.push((sorted[e] >> 32) & suffix_mask);
  suffixes.finish();
}

// Consecutive partitions [first, last) whose entries fit the scratch together.
std::vector<std::pair<uint64_t, uint64_t>> group_partitions(const Plan& plan, uint64_t scratch_entries) {
  std::vector<std::pair<uint64_t, uint64_t>> groups;
  uint64_t first = 0;
  for (uint64_t q = 0; q < plan.partitions(); ++q)
    if (plan.start[q + 1] - plan.start[first] > scratch_entries) {
      groups.emplace_back(first, q);
      first = q;
    }
  groups.emplace_back(first, plan.partitions());
  return groups;
}

}  // namespace

uint64_t partition_scratch_entries() {
  const uint64_t mb = env_u64("NASH_MIH_BUILD_SCRATCH_MB", 0);
  return mb ? mb * (uint64_t{1} << 20) / 8 : kDefaultScratchEntries;
}

bool partitioned_build_enabled() {
  const char* algo = std::getenv("NASH_MIH_BUILD");
  return !(algo && std::strcmp(algo, "counting") == 0);
}

bool build_table_partitioned(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j,
                             const TableShape& shape, uint8_t* arrays, std::atomic<uint64_t>* progress,
                             int threads, uint64_t scratch_entries) {
  const uint64_t n = shape.entries;
  BuildTrace trace;
  Plan plan = plan_for(shape);
  threads = n < (uint64_t{1} << 16) ? 1 : std::max(1, threads);
  const uint64_t parts = plan.partitions();
  const KeyReader key(codes, code_size, layout, j, shape.key_bits);
  // Count pass: codes per (thread, partition).
  plan.counts.assign(uint64_t(threads) * parts, 0);
  ThreadPool::global().parallel_for(size_t(threads), threads, [&](size_t t) {
    uint64_t* count = plan.counts.data() + t * parts;
    each_code(slice_begin(n, threads, int(t)), slice_end(n, threads, int(t)), progress,
              [&](uint64_t i) { ++count[plan.part(key(i))]; });
  });
  plan.start.assign(parts + 1, 0);
  uint64_t largest = 0;
  for (uint64_t q = 0; q < parts; ++q) {
    uint64_t total = 0;
    for (int t = 0; t < threads; ++t) total += plan.counts[uint64_t(t) * parts + q];
    plan.start[q + 1] = plan.start[q] + total;
    largest = std::max(largest, total);
  }
  if (largest > scratch_entries) return false;
  report_progress(progress, n);
  trace.phase("partition_count");
  const Output out{shape, arrays, arrays + shape.offsets_bytes(),
                   arrays + shape.offsets_bytes() + shape.positions_bytes()};
  const auto groups = group_partitions(plan, scratch_entries);
  uint64_t widest = 0;
  for (const auto& g : groups) widest = std::max(widest, plan.start[g.second] - plan.start[g.first]);
  Scratch scratch(widest);
  std::vector<SortBuffers> buffers(static_cast<size_t>(threads));
  for (const auto& [first, last] : groups) {
    // Scatter pass: each thread writes its codes of these partitions, in
    // position order, after those of the threads before it.
    const uint64_t base = plan.start[first], span = last - first;
    std::vector<uint64_t> cursor(uint64_t(threads) * span);
    for (uint64_t q = first; q < last; ++q) {
      uint64_t at = plan.start[q] - base;
      for (int t = 0; t < threads; ++t) {
        cursor[uint64_t(t) * span + (q - first)] = at;
        at += plan.counts[uint64_t(t) * parts + q];
      }
    }
    ThreadPool::global().parallel_for(size_t(threads), threads, [&](size_t t) {
      uint64_t* next = cursor.data() + t * span;
      uint64_t* dst = scratch.data;
      const uint64_t lo = first, hi = last;
      each_code(slice_begin(n, threads, int(t)), slice_end(n, threads, int(t)), progress, [&](uint64_t i) {
        const uint32_t k = key(i);
        const uint64_t q = plan.part(k);
        if (q - lo < hi - lo) dst[next[q - lo]++] = plan.local(k) << 32 | i;
      });
    });
    report_progress(progress, plan.start[last] - base);
    trace.phase("partition_scatter");
    // Sort pass: partitions in turn on every thread, each in cache.
    std::atomic<uint64_t> claimed{first};
    ThreadPool::global().parallel_for(size_t(threads), threads, [&](size_t t) {
      for (uint64_t q; (q = claimed.fetch_add(1)) < last;) {
        finish_partition(plan, q, scratch.data + (plan.start[q] - base), out, buffers[t]);
        report_progress(progress, plan.start[q + 1] - plan.start[q]);
      }
    });
    trace.phase("partition_sort_write");
  }
  PackedAppender end(out.offsets, shape.offset_width, shape.prefixes());
  end.push(n);
  end.finish();
  return true;
}

}  // namespace nash_index
