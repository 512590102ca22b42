// Counts the searches of one kind running now (every caller and index), so
// that a search splits its work between the pool's threads only while fewer
// run than the pool has threads: otherwise the cores already serve other
// callers, and a split adds only hand-offs and merges.
#pragma once
#include <atomic>

namespace nash_index {

class RunningSearch {
 public:
  // `running` is the count after this search joined.
  explicit RunningSearch(std::atomic<int>& counter)
      : counter_(counter), running(counter.fetch_add(1, std::memory_order_relaxed) + 1) {}
  ~RunningSearch() { counter_.fetch_sub(1, std::memory_order_relaxed); }
  RunningSearch(const RunningSearch&) = delete;
  RunningSearch& operator=(const RunningSearch&) = delete;

 private:
  std::atomic<int>& counter_;

 public:
  const int running;
};

}  // namespace nash_index
