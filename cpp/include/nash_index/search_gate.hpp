// Admission of searches when callers outnumber the cores (opt-in: open by
// default). At most slots() searches compute at once; the others wait asleep,
// in arrival order. 16 Python threads searching on 2 cores are otherwise
// time-sliced by the OS, which also preempts whichever holds the GIL: the gate
// trades a little throughput for a much shorter latency tail
// (bench/results/limits_callers.md). A search's own split across the pool is
// unaffected: it holds one slot.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace nash_index {

class SearchGate {
 public:
  // The gate every binding's search passes; open (0 slots) until set.
  static SearchGate& global();
  explicit SearchGate(int slots) : slots_(slots) {}
  SearchGate(const SearchGate&) = delete;
  SearchGate& operator=(const SearchGate&) = delete;

  // Searches admitted at once; 0: the gate is open (every search enters at once).
  int slots() const;
  // 0 <= slots; raising it (or opening the gate) admits waiting searches at once.
  void set_slots(int slots);
  // Searches that had to wait since the process started (tests and benchmarks).
  uint64_t waits() const;

  // Holds a slot from construction to destruction.
  class Pass {
   public:
    explicit Pass(SearchGate& gate) : gate_(gate), held_(gate_.acquire()) {}
    ~Pass() {
      if (held_) gate_.release();
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

   private:
    SearchGate& gate_;
    const bool held_;  // false: the gate was open, nothing to give back
  };

 private:
  struct Waiter {
    std::condition_variable wake;
    bool admitted = false;
  };
  bool acquire();  // false when the gate is open (then no slot is taken)
  void release();
  void admit_front();  // caller holds mutex_

  mutable std::mutex mutex_;
  std::deque<Waiter*> queue_;  // in arrival order
  // Read without the lock on every search: an open gate costs one load. Searches that entered
  // an open gate are not counted when it closes; they finish as they are.
  std::atomic<int> slots_;
  int running_ = 0;
  uint64_t waits_ = 0;
};

}  // namespace nash_index
