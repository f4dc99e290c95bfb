#pragma once
// Progress on stderr: a one-line bar with ETA redrawn in place when stderr is a terminal; plain
// lines ("train: 40% layer 1 step 80") at most every ROUTERSCOPE_PROGRESS_SECONDS (default 10)
// plus the first and the last when it is not (batch-job logs, pipes).
#include "core/progress.h"

#include <chrono>
#include <string>

namespace routerscope::cli {

class ProgressBar {
public:
  explicit ProgressBar(std::string title);
  ~ProgressBar(); // clears the line
  // A Progress that draws into this bar (at most ~10 redraws per second) and observes `cancel`.
  Progress progress(const std::atomic<bool>* cancel = nullptr);
  void update(double fraction, const std::string& label);
  // Clears the bar's line so that what follows starts on a clean line; the bar stays silent after.
  void finish();

private:
  std::string title_;
  bool tty_;
  double line_interval_s_ = 10; // plain-line mode only
  int last_percent_ = -1;
  bool drawn_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
  void plain_line(double fraction, const std::string& label);
};

} // namespace routerscope::cli
