// Allocator for large, sequentially scanned buffers (the code block, the sliced planes): blocks
// of 2 MiB and more are 2 MiB-aligned and marked MADV_HUGEPAGE before first touch, smaller ones
// 64-byte aligned (a vector load that straddles two cache lines costs two).
// With transparent huge pages in "madvise" mode (a common default) a scan over
// 4 KiB pages runs ~1.5x slower: TLB misses and prefetchers stopping at every page.
#pragma once
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace nash_index {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t(2) << 20;
  static constexpr size_t kLine = 64;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHuge) {
      void* p = std::aligned_alloc(kLine, (std::max<size_t>(bytes, 1) + kLine - 1) / kLine * kLine);
      if (!p) throw std::bad_alloc();
      return static_cast<T*>(p);
    }
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, rounded);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    ::madvise(p, rounded, MADV_HUGEPAGE);  // advisory: failure only costs speed
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const { return false; }
};

}  // namespace nash_index
