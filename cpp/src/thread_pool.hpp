// A persistent pool of std::threads owned by the library (no OpenMP: it
// clashes with torch's runtime). Several callers may submit at once: each job
// keeps its own task counter and the caller always works on its own job, so a
// job never waits behind another one, and a job survives a resize (unclaimed
// tickets are run by the caller). Resizes are serialised; after fork() the
// child forgets the parent's workers and starts its own on first use.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
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
  // 1 <= num_threads <= kMaxThreads; std::logic_error from a pool worker
  // (it would have to join itself).
  void set_num_threads(int num_threads);

  // Runs fn(task) for every task in [0, ntasks) on at most max_threads threads
  // (<= 0: all), the calling thread included. The first exception thrown by a
  // task is rethrown here after every started task has finished. May be called
  // from inside a task (the nested caller runs its own job too).
  void parallel_for(size_t ntasks, int max_threads, const std::function<void(size_t)>& fn);

  // pthread_atfork handlers of the global pool (registered once in global()).
  void before_fork();
  void after_fork_in_parent();
  void after_fork_in_child();

 private:
  struct Job;
  // Everything a fork child must replace wholesale: its mutexes may be held
  // and its workers do not exist there.
  struct State {
    std::mutex resize_mutex;  // serialises set_num_threads (and restarts)
    std::mutex mutex;         // guards the fields below
    std::condition_variable wake;
    std::deque<Job*> tickets;  // one entry per worker a job asked for
    std::atomic<size_t> queued{0};  // tickets.size(), read without the lock by spinning workers
    std::vector<std::thread> workers;
    bool stopping = false;
    int size = 1;  // requested threads, caller included
  };

  void worker_loop(State* s);
  void resize(int num_threads);  // caller holds resize_mutex
  void restart_after_fork();

  std::unique_ptr<State> state_;
  std::atomic<bool> restart_pending_{false};
};

int default_num_threads();

// Threads a job gets when it asks for `num_threads` (<= 0: the whole global pool).
int resolve_threads(int num_threads);

}  // namespace nash_index
