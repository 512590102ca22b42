// Threads of the library's own pool (shared by every index in the process).
#pragma once

namespace nash_index {

// Threads one search may use, the caller included (>= 1).
int num_threads();
// Resizes the pool; num_threads >= 1 (std::invalid_argument otherwise).
void set_num_threads(int num_threads);

}  // namespace nash_index
