#include "nash_index/search_gate.hpp"

#include <stdexcept>

namespace nash_index {

// Open by default: with as many slots as CPUs, a freed slot idles while its next search wakes
// (2 cores, 16 callers of 30 us MIH searches: 19k q/s against 29k open); with twice as many,
// flat p99 fell from 48 to 8 ms for 3% of q/s but MIH lost 12% (bench/results/limits_callers.md).
// Also tried and dropped (Intel 2-core VM, 16 callers of 30 us MIH searches): a slot held for
// a turn of 1-5 ms across its holder's next searches, handed to a woken heir only once the turn
// ends. The GIL then changed hands among 2-3 threads (sys time 6 -> 2 us a query) and q/s went
// from 0.77 to 0.87-0.92 of 2 callers' with 3 slots; but a caller that does I/O between searches
// keeps its slot idle until the grace ends: 16 callers sleeping 1 ms between searches fell from
// 13.8k to 3-9k q/s. Telling the two apart costs a wake-up per hand-over, the loss it removes.
SearchGate& SearchGate::global() {
  static SearchGate* gate = new SearchGate(0);  // never destroyed: callers may outlive statics
  return *gate;
}

int SearchGate::slots() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return slots_;
}

uint64_t SearchGate::waits() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return waits_;
}

void SearchGate::set_slots(int slots) {
  if (slots < 0) throw std::invalid_argument("search slots must be >= 0 (0: no limit), got " + std::to_string(slots));
  const std::lock_guard<std::mutex> lock(mutex_);
  slots_ = slots;
  while (!queue_.empty() && (slots_ == 0 || running_ < slots_)) admit_front();
}

void SearchGate::admit_front() {
  Waiter* next = queue_.front();
  queue_.pop_front();
  ++running_;
  next->admitted = true;
  next->wake.notify_one();
}

bool SearchGate::acquire() {
  if (slots_.load(std::memory_order_relaxed) == 0) return false;
  std::unique_lock<std::mutex> lock(mutex_);
  if (slots_ == 0) return false;
  if (running_ < slots_ && queue_.empty()) {
    ++running_;
    return true;
  }
  Waiter me;
  queue_.push_back(&me);
  ++waits_;
  me.wake.wait(lock, [&] { return me.admitted; });  // admit_front counted us as running
  return true;
}

void SearchGate::release() {
  const std::lock_guard<std::mutex> lock(mutex_);
  --running_;
  // One leaves, the next in line enters (more, if the slots were raised meanwhile).
  while (!queue_.empty() && (slots_ == 0 || running_ < slots_)) admit_front();
}

}  // namespace nash_index
