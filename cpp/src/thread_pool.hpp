// A persistent pool of std::threads owned by the library (no OpenMP: it
// clashes with torch's runtime). Several callers may submit at once: each job
// keeps its own task counter and the caller always works on its own job, so a
// job never waits behind another one.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "nash_index/threads.hpp"

namespace nash_index {

class ThreadPool {
 public:
  static ThreadPool& global();
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads available to one job, the caller included (>= 1).
  int num_threads() const;
  void set_num_threads(int num_threads);

  // Runs fn(task) for every task in [0, ntasks) on at most max_threads threads
  // (<= 0: all), the calling thread included. The first exception thrown by a
  // task is rethrown here after every started task has finished.
  void parallel_for(size_t ntasks, int max_threads, const std::function<void(size_t)>& fn);

 private:
  struct Job;
  void worker_loop();
  void start_workers(int count);
  void stop_workers();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> tickets_;  // one entry per worker a job asked for
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

int default_num_threads();

// Threads a job gets when it asks for `num_threads` (<= 0: the whole global pool).
int resolve_threads(int num_threads);

}  // namespace nash_index
