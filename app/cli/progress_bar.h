#pragma once
// A one-line progress bar with ETA on stderr, drawn only when stderr is a terminal.
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
  bool drawn_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

} // namespace routerscope::cli
