// Phase timings of a table build, printed to stderr when the environment sets
// NASH_MIH_BUILD_TRACE (benchmarks read them; silent otherwise).
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace nash_index {

class BuildTrace {
 public:
  BuildTrace() : on_(std::getenv("NASH_MIH_BUILD_TRACE") != nullptr), last_(now()) {}
  static bool enabled() { return std::getenv("NASH_MIH_BUILD_TRACE") != nullptr; }
  // Prints the seconds since the previous phase ended (or construction).
  void phase(const char* name) {
    if (!on_) return;
    const double t = now();
    std::fprintf(stderr, "nash_mih_build %s %.4f\n", name, t - last_);
    std::fflush(stderr);
    last_ = t;
  }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  bool on_;
  double last_;
};

}  // namespace nash_index
