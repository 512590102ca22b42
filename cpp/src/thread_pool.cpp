#include "thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <exception>

namespace nash_index {

struct ThreadPool::Job {
  const std::function<void(size_t)>* fn;
  size_t ntasks;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  int running = 0;  // tickets claimed by workers and not finished (guarded by pool mutex)
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
  return hw == 0 ? 1 : static_cast<int>(hw);
}

int num_threads() { return ThreadPool::global().num_threads(); }
void set_num_threads(int num_threads) { ThreadPool::global().set_num_threads(num_threads); }

int resolve_threads(int num_threads) {
  const int pool = ThreadPool::global().num_threads();
  return num_threads <= 0 ? pool : std::min(num_threads, pool);
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(default_num_threads());
  return pool;
}

ThreadPool::ThreadPool(int num_threads) { start_workers(std::max(1, num_threads) - 1); }

ThreadPool::~ThreadPool() { stop_workers(); }

int ThreadPool::num_threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(workers_.size()) + 1;
}

void ThreadPool::set_num_threads(int num_threads) {
  if (num_threads < 1) throw std::invalid_argument("num_threads must be >= 1");
  stop_workers();
  start_workers(num_threads - 1);
}

void ThreadPool::start_workers(int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  for (int i = 0; i < count; ++i) workers_.emplace_back([this] { worker_loop(); });
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
  std::lock_guard<std::mutex> lock(mutex_);
  workers_.clear();
}

void ThreadPool::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !tickets_.empty(); });
    if (stopping_) return;
    Job* job = tickets_.front();
    tickets_.pop_front();
    ++job->running;
    lock.unlock();
    job->run();
    lock.lock();
    if (--job->running == 0) job->finished.notify_all();
  }
}

void ThreadPool::parallel_for(size_t ntasks, int max_threads, const std::function<void(size_t)>& fn) {
  if (ntasks == 0) return;
  Job job;
  job.fn = &fn;
  job.ntasks = ntasks;
  size_t helpers = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t limit = max_threads <= 0 ? workers_.size() + 1 : static_cast<size_t>(max_threads);
    helpers = std::min({limit, workers_.size() + 1, ntasks}) - 1;
    for (size_t i = 0; i < helpers; ++i) tickets_.push_back(&job);
  }
  if (helpers == 1) wake_.notify_one();
  else if (helpers > 1) wake_.notify_all();
  job.run();
  {
    // Withdraw tickets no worker has claimed, then wait for the claimed ones.
    std::unique_lock<std::mutex> lock(mutex_);
    tickets_.erase(std::remove(tickets_.begin(), tickets_.end(), &job), tickets_.end());
    job.finished.wait(lock, [&job] { return job.running == 0; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace nash_index
