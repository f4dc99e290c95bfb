#include "app/cli/progress_bar.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace routerscope::cli {

ProgressBar::ProgressBar(std::string title)
    : title_(std::move(title)), tty_(::isatty(2) != 0), start_(std::chrono::steady_clock::now()),
      last_(start_ - std::chrono::hours(1)) {
  if (const char* v = std::getenv("ROUTERSCOPE_PROGRESS_SECONDS"); v && *v) {
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (end && *end == '\0' && s >= 0)
      line_interval_s_ = s;
  }
}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::finish() {
  if (drawn_ && !finished_)
    std::fprintf(stderr, "\r\033[K");
  finished_ = true;
}

Progress ProgressBar::progress(const std::atomic<bool>* cancel) {
  Progress p;
  p.report = [this](double f, const std::string& label) { update(f, label); };
  p.cancel = cancel;
  return p;
}

void ProgressBar::plain_line(double fraction, const std::string& label) {
  const auto now = std::chrono::steady_clock::now();
  const int percent = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * 100 + 0.5);
  const bool last = percent == 100 && last_percent_ != 100;
  if (!last && (percent == last_percent_ ||
                std::chrono::duration<double>(now - last_).count() < line_interval_s_))
    return;
  last_ = now;
  last_percent_ = percent;
  std::fprintf(stderr, "%s: %3d%% %s\n", title_.c_str(), percent, label.c_str());
  std::fflush(stderr);
}

void ProgressBar::update(double fraction, const std::string& label) {
  if (finished_)
    return;
  if (!tty_) {
    plain_line(fraction, label);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (fraction < 1.0 && now - last_ < std::chrono::milliseconds(100))
    return;
  last_ = now;
  fraction = std::clamp(fraction, 0.0, 1.0);
  constexpr int kWidth = 30;
  int filled = static_cast<int>(fraction * kWidth + 0.5);
  double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string eta = "--";
  if (fraction > 0.02) {
    int secs = static_cast<int>(elapsed * (1.0 - fraction) / fraction + 0.5);
    eta = secs >= 60 ? std::to_string(secs / 60) + "m" + std::to_string(secs % 60) + "s"
                     : std::to_string(secs) + "s";
  }
  std::fprintf(stderr, "\r\033[K%s [%s%s] %3d%% %s  ETA %s", title_.c_str(),
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(),
               static_cast<int>(fraction * 100 + 0.5), label.c_str(), eta.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

} // namespace routerscope::cli
