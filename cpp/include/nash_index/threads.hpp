// Threads of the library's own pool (shared by every index in the process).
#pragma once

namespace nash_index {

// Upper bound of set_num_threads: beyond it a typo would spawn threads until
// the process dies.
constexpr int kMaxThreads = 1024;

// Threads one search may use, the caller included (>= 1).
int num_threads();
// Resizes the pool; 1 <= num_threads <= kMaxThreads (std::invalid_argument
// otherwise). Safe while other threads search or resize.
void set_num_threads(int num_threads);

}  // namespace nash_index
