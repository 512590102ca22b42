#include "mih_partition.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "build_trace.hpp"
#include "ordered_writers.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr uint64_t kProgressStep = uint64_t{1} << 20;
constexpr int kMaxPartitionBits = 12;   // 4096 scatter targets: their open cache lines stay in L2
constexpr int kPartitionEntriesLog = 15;  // ~32K entries (256 KB) per partition: sorted in L2
// Partitions larger than this (duplicated keys) are sorted in place: the radix
// sort's second array stays within 32 MB a thread.
constexpr uint64_t kRadixSortMax = uint64_t{1} << 22;
constexpr uint64_t kDefaultScratchEntries = uint64_t{1} << 27;  // 1 GiB

// The key of a code (the low key_bits bits of substring j): one 8-byte load
// and a shift for codes of 8 bytes or more.
class KeyReader {
 public:
  KeyReader(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j, int key_bits)
      : codes_(codes), code_size_(code_size), layout_(layout), j_(j),
        mask_(key_bits >= 32 ? 0xFFFFFFFFu : (uint32_t{1} << key_bits) - 1) {
    int begin = 0;
    for (int i = 0; i < j; ++i) begin += layout.length(i);
    // The 8 bytes from the substring's first byte, or the code's last 8 when
    // those would run past its end (a substring of <= 32 bits still fits them).
    wide_ = code_size >= 8;
    first_ = std::min(static_cast<size_t>(begin) / 8, wide_ ? code_size - 8 : 0);
    shift_ = begin - 8 * static_cast<int>(first_);
  }
  uint32_t operator()(uint64_t i) const {
    const uint8_t* code = codes_ + i * code_size_;
    if (!wide_) return layout_.extract(code, code_size_, j_) & mask_;
    uint64_t word;
    std::memcpy(&word, code + first_, 8);  // little-endian hosts, as SubstringLayout::extract
    return static_cast<uint32_t>(word >> shift_) & mask_;
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

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  return (end && *end == '\0' && v > 0) ? v : fallback;
}

// The partitions of one table: partition = the top `bits` bits of the key.
struct Plan {
  int key_bits, prefix_bits, suffix_bits, bits, local_bits;  // local_bits = key bits below the partition
  int prefix_in_part;                                         // prefix bits below the partition
  std::vector<uint64_t> counts;                               // codes per [thread][partition]
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

// Runs fn(i) over [begin, end) in steps, checking for cancellation between
// them; `counts` adds the step's codes to the progress.
template <class Fn>
void each_code(uint64_t begin, uint64_t end, std::atomic<uint64_t>* progress, Fn&& fn, bool counts = false) {
  for (uint64_t start = begin; start < end; start += kProgressStep) {
    const uint64_t stop = std::min(end, start + kProgressStep);
    for (uint64_t i = start; i < stop; ++i) fn(i);
    report_progress(progress, counts ? stop - start : 0);
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
  std::vector<uint64_t> other;     // the radix sort's second array
  std::vector<uint32_t> histogram;  // per digit
};

constexpr int kDigitBits = 11;  // 2048 counters per digit: L1-resident

// Sorts entries (local key << 32 | position, in position order) by local key,
// stably: least significant digit first, a digit skipped when every entry
// shares it (clustered keys). Returns where the sorted entries are.
uint64_t* radix_sort(uint64_t* entries, uint64_t count, int local_bits, SortBuffers& buf) {
  const int digits = (local_bits + kDigitBits - 1) / kDigitBits;
  if (digits == 0 || count < 2) return entries;
  const int width = (local_bits + digits - 1) / digits;  // digits of (nearly) equal width
  const uint64_t radix = uint64_t{1} << width;
  std::vector<uint32_t>& hist = buf.histogram;
  hist.assign(radix * uint64_t(digits), 0);
  for (uint64_t e = 0; e < count; ++e) {
    const uint64_t key = entries[e] >> 32;
    for (int d = 0; d < digits; ++d) ++hist[uint64_t(d) * radix + ((key >> (d * width)) & (radix - 1))];
  }
  buf.other.resize(count);
  uint64_t* from = entries;
  uint64_t* to = buf.other.data();
  for (int d = 0; d < digits; ++d) {
    uint32_t* next = hist.data() + uint64_t(d) * radix;
    const uint64_t first_digit = (from[0] >> 32 >> (d * width)) & (radix - 1);
    if (next[first_digit] == count) continue;  // one value of this digit: already in order
    uint32_t sum = 0;
    for (uint64_t v = 0; v < radix; ++v) {
      const uint32_t c = next[v];
      next[v] = sum;
      sum += c;
    }
    for (uint64_t e = 0; e < count; ++e) to[next[(from[e] >> 32 >> (d * width)) & (radix - 1)]++] = from[e];
    std::swap(from, to);
  }
  return from;
}

// Sorts partition q's entries (in position order in `entries`) by key and
// writes its offsets, positions and suffixes.
void finish_partition(const Plan& plan, uint64_t q, uint64_t* entries, const Output& out, SortBuffers& buf) {
  const uint64_t count = plan.start[q + 1] - plan.start[q];
  const int sb = plan.suffix_bits;
  const uint64_t* sorted = entries;
  if (count > kRadixSortMax) std::sort(entries, entries + count);  // unique (key, position): the order wanted
  else sorted = radix_sort(entries, count, plan.local_bits, buf);
  // Offsets: the first entry at or past each prefix of the partition.
  const uint64_t prefixes = uint64_t{1} << plan.prefix_in_part;
  PackedAppender offsets(out.offsets, out.shape.offset_width, q << plan.prefix_in_part);
  PackedAppender positions(out.positions, out.shape.position_width, plan.start[q]);
  uint64_t prefix = 0;
  for (uint64_t e = 0; e < count; ++e) {
    for (const uint64_t p = sorted[e] >> 32 >> sb; prefix <= p; ++prefix) offsets.push(plan.start[q] + e);
    positions.push(sorted[e] & 0xFFFFFFFFu);
  }
  for (; prefix < prefixes; ++prefix) offsets.push(plan.start[q] + count);
  offsets.finish();
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

PartitionScratch::PartitionScratch() {
  const uint64_t mb = env_u64("NASH_MIH_BUILD_SCRATCH_MB", 0);
  limit_ = mb ? std::max<uint64_t>(1, mb * (uint64_t{1} << 20) / 8) : kDefaultScratchEntries;
}

PartitionScratch::~PartitionScratch() = default;

void PartitionScratch::lend(uint8_t* region, uint64_t bytes) {
  give_back();
  const uintptr_t at = reinterpret_cast<uintptr_t>(region), aligned = (at + 63) / 64 * 64;  // streaming stores
  if (bytes < aligned - at + 8) return;
  lent_ = reinterpret_cast<uint64_t*>(aligned);
  lent_entries_ = (bytes - (aligned - at)) / 8;
}

void PartitionScratch::give_back() {
  if (lent_) std::memset(lent_, 0, lent_used_ * sizeof(uint64_t));
  lent_ = nullptr;
  lent_entries_ = lent_used_ = 0;
}

uint64_t* PartitionScratch::reserve(uint64_t entries) {
  entries = std::max<uint64_t>(entries, 1);
  if (lent_ && entries <= lent_entries_ && lent_entries_ > limit_) {
    lent_used_ = std::max(lent_used_, entries);
    return lent_;
  }
  if (entries > size_) {
    pages_.reset();
    size_ = 0;
    pages_ = std::make_unique<ZeroedPages>(entries * sizeof(uint64_t));
    size_ = entries;
  }
  return reinterpret_cast<uint64_t*>(pages_->data());
}

ZeroedPages::ZeroedPages(uint64_t bytes) : bytes_(std::max<uint64_t>(bytes, 1)) {
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(p);
#ifdef MADV_NOHUGEPAGE
  ::madvise(p, bytes_, MADV_NOHUGEPAGE);  // "always" THP would compact for them too
#endif
  constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE (Linux 5.14); older kernels fault on first write
  ::madvise(p, bytes_, kPopulateWrite);
}

ZeroedPages::~ZeroedPages() { ::munmap(data_, bytes_); }

bool partitioned_build_enabled() {
  const char* algo = std::getenv("NASH_MIH_BUILD");
  return !(algo && std::strcmp(algo, "counting") == 0);
}

bool build_table_partitioned(const uint8_t* codes, size_t code_size, const SubstringLayout& layout, int j,
                             const TableShape& shape, uint8_t* arrays, std::atomic<uint64_t>* progress,
                             int threads, PartitionScratch& scratch) {
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
              [&](uint64_t i) { ++count[plan.part(key(i))]; }, true);
  });
  plan.start.assign(parts + 1, 0);
  uint64_t largest = 0;
  for (uint64_t q = 0; q < parts; ++q) {
    uint64_t total = 0;
    for (int t = 0; t < threads; ++t) total += plan.counts[uint64_t(t) * parts + q];
    plan.start[q + 1] = plan.start[q] + total;
    largest = std::max(largest, total);
  }
  if (largest > scratch.limit()) {
    if (progress) progress->fetch_sub(n);  // the counting sort reports its passes afresh
    return false;
  }
  trace.phase("partition_count");
  const Output out{shape, arrays, arrays + shape.offsets_bytes(),
                   arrays + shape.offsets_bytes() + shape.positions_bytes()};
  const auto groups = group_partitions(plan, scratch.limit());
  uint64_t widest = 0;
  for (const auto& g : groups) widest = std::max(widest, plan.start[g.second] - plan.start[g.first]);
  uint64_t* const entries = scratch.reserve(widest);
  trace.phase("partition_scratch");
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
      CombiningWriter writer(entries, cursor.data() + t * span, span);
      each_code(slice_begin(n, threads, int(t)), slice_end(n, threads, int(t)), progress, [&](uint64_t i) {
        const uint32_t k = key(i);
        const uint64_t r = plan.part(k) - first;
        if (r < span) writer.push(r, plan.local(k) << 32 | i);
      });
      writer.flush();
    });
    report_progress(progress, plan.start[last] - base);
    trace.phase("partition_scatter");
    // Sort pass: partitions in turn on every thread, each in cache.
    std::atomic<uint64_t> claimed{first};
    ThreadPool::global().parallel_for(size_t(threads), threads, [&](size_t t) {
      for (uint64_t q; (q = claimed.fetch_add(1)) < last;) {
        finish_partition(plan, q, entries + (plan.start[q] - base), out, buffers[t]);
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
