#pragma once
// Progress reporting and cooperative cancellation for long work (CLI progress bars, GUI jobs).
#include <atomic>
#include <functional>
#include <string>

namespace routerscope {

struct Progress {
  // fraction in [0, 1] and a short label ("layer 3 expert 12"); may be empty.
  std::function<void(double fraction, const std::string& label)> report;
  const std::atomic<bool>* cancel = nullptr;

  void operator()(double fraction, const std::string& label) const {
    if (report)
      report(fraction, label);
  }
  bool cancelled() const { return cancel && cancel->load(std::memory_order_relaxed); }
  // Throws Error(Cancelled) when cancellation was requested.
  void check() const;
};

} // namespace routerscope
