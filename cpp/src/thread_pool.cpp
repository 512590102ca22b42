#include "thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

namespace nash_index {

namespace {
// Set in the pool's own workers: set_num_threads from one would join itself.
thread_local bool t_pool_worker = false;
// How long a worker polls for the next ticket, and a caller for its helpers' end, before sleeping:
// waking a sleeping thread costs ~100 us on a virtual machine (its idle vCPU is halted), a third
// of the 2-core scan of 16 MB that a lone caller splits (0.41 -> 0.34-0.37 ms with the poll).
constexpr int kSpinMicros = 200;

template <class Busy>
void spin_while(Busy busy) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
  while (busy() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
}
}  // namespace

struct ThreadPool::Job {
  const std::function<void(size_t)>* fn;
  size_t ntasks;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  // Tickets claimed by workers and not finished: changed under State::mutex, read without it by
  // the polling caller.
  std::atomic<int> running{0};
  std::condition_variable finished;

  void run() {
    for (size_t t; !failed.load(std::memory_order_relaxed) && (t = next.fetch_add(1)) < ntasks;) {
      try {
        (*fn)(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  }
};

int default_num_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min<unsigned>(hw, kMaxThreads));
}

int num_threads() { return ThreadPool::global().num_threads(); }
void set_num_threads(int num_threads) { ThreadPool::global().set_num_threads(num_threads); }

int resolve_threads(int num_threads) {
  const int pool = ThreadPool::global().num_threads();
  return num_threads <= 0 ? pool : std::min(num_threads, pool);
}

ThreadPool& ThreadPool::global() {
  // Never destroyed: Python daemon threads may still be searching at exit.
  static ThreadPool* pool = [] {
    auto* p = new ThreadPool(default_num_threads());
    pthread_atfork([] { global().before_fork(); }, [] { global().after_fork_in_parent(); },
                   [] { global().after_fork_in_child(); });
    return p;
  }();
  return *pool;
}

ThreadPool::ThreadPool(int num_threads) : state_(new State) {
  std::lock_guard<std::mutex> lock(state_->resize_mutex);
  resize(std::max(1, std::min(num_threads, kMaxThreads)));
}

ThreadPool::~ThreadPool() {
  std::lock_guard<std::mutex> lock(state_->resize_mutex);
  resize(1);
}

int ThreadPool::num_threads() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->size;
}

void ThreadPool::set_num_threads(int num_threads) {
  if (num_threads < 1 || num_threads > kMaxThreads)
    throw std::invalid_argument("num_threads must be between 1 and " + std::to_string(kMaxThreads) + ", got " +
                                std::to_string(num_threads));
  if (t_pool_worker) throw std::logic_error("set_num_threads cannot be called from a task of the pool");
  std::lock_guard<std::mutex> lock(state_->resize_mutex);
  resize(num_threads);
  restart_pending_ = false;
}

void ThreadPool::resize(int num_threads) {
  State& s = *state_;
  std::vector<std::thread> old;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.size == num_threads && s.workers.size() + 1 == static_cast<size_t>(num_threads)) return;
    s.stopping = true;
    old.swap(s.workers);
    s.size = num_threads;
  }
  // Old workers finish the ticket they hold; unclaimed tickets stay queued and
  // their jobs' callers run them (or the new workers claim them).
  s.wake.notify_all();
  for (auto& w : old) w.join();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stopping = false;
  try {
    for (int i = 1; i < num_threads; ++i) s.workers.emplace_back([this, &s] { worker_loop(&s); });
  } catch (...) {
    s.size = static_cast<int>(s.workers.size()) + 1;  // the OS refused a thread: report what runs
    throw;
  }
  if (!s.tickets.empty()) s.wake.notify_all();
}

void ThreadPool::restart_after_fork() {
  std::lock_guard<std::mutex> lock(state_->resize_mutex);
  if (!restart_pending_) return;
  resize(state_->size);
  restart_pending_ = false;
}

void ThreadPool::before_fork() {
  // Same order as resize: the child then inherits a consistent state.
  state_->resize_mutex.lock();
  state_->mutex.lock();
}

void ThreadPool::after_fork_in_parent() {
  state_->mutex.unlock();
  state_->resize_mutex.unlock();
}

void ThreadPool::after_fork_in_child() {
  // Only the forking thread exists here. The old state is leaked on purpose:
  // its std::threads are joinable (destroying them calls std::terminate) and
  // its condition variable lists waiters that do not exist.
  const int size = state_->size;
  (void)state_.release();
  state_.reset(new State);
  state_->size = size;
  restart_pending_ = size > 1;  // workers start on first use, not in this handler
}

void ThreadPool::worker_loop(State* s) {
  t_pool_worker = true;
  std::unique_lock<std::mutex> lock(s->mutex);
  for (;;) {
    if (s->tickets.empty() && !s->stopping) {  // poll a while before sleeping (kSpinMicros)
      lock.unlock();
      spin_while([s] { return s->queued.load(std::memory_order_relaxed) == 0; });
      lock.lock();
    }
    s->wake.wait(lock, [s] { return s->stopping || !s->tickets.empty(); });
    if (s->stopping) return;
    Job* job = s->tickets.front();
    s->tickets.pop_front();
    s->queued.store(s->tickets.size(), std::memory_order_relaxed);
    ++job->running;
    lock.unlock();
    job->run();
    lock.lock();
    if (--job->running == 0) job->finished.notify_all();
  }
}

void ThreadPool::parallel_for(size_t ntasks, int max_threads, const std::function<void(size_t)>& fn) {
  if (ntasks == 0) return;
  if (ntasks == 1 || max_threads == 1) {
    // Nothing to share: the caller runs every task itself, without the pool's lock (the floor of
    // a small search, and many callers' searches that each run on their own thread).
    for (size_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  if (restart_pending_.load()) restart_after_fork();
  State& s = *state_;
  Job job;
  job.fn = &fn;
  job.ntasks = ntasks;
  size_t helpers = 0;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    const size_t live = s.workers.size() + 1;
    const size_t limit = max_threads <= 0 ? live : static_cast<size_t>(max_threads);
    helpers = std::min({limit, live, ntasks}) - 1;
    for (size_t i = 0; i < helpers; ++i) s.tickets.push_back(&job);
    s.queued.store(s.tickets.size(), std::memory_order_relaxed);
  }
  if (helpers == 1) s.wake.notify_one();
  else if (helpers > 1) s.wake.notify_all();
  job.run();
  {
    // Withdraw tickets no worker has claimed, then wait for the claimed ones.
    std::unique_lock<std::mutex> lock(s.mutex);
    s.tickets.erase(std::remove(s.tickets.begin(), s.tickets.end(), &job), s.tickets.end());
    s.queued.store(s.tickets.size(), std::memory_order_relaxed);
    if (job.running != 0) {  // the helpers' last tasks are under way: poll a while, as they do
      lock.unlock();
      spin_while([&job] { return job.running.load() != 0; });
      lock.lock();
    }
    job.finished.wait(lock, [&job] { return job.running == 0; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace nash_index
