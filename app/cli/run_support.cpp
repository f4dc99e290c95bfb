#include "app/cli/run_support.h"

#include "io/csv.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace routerscope::cli {

namespace {

std::atomic<bool> g_interrupted{false};
using Handler = void (*)(int);
Handler g_previous = SIG_DFL;

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL); // a second Ctrl-C ends the process at once
}

} // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted.store(false);
  g_previous = std::signal(SIGINT, on_sigint);
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, g_previous);
}

const std::atomic<bool>* InterruptGuard::flag() const {
  return &g_interrupted;
}

bool was_interrupted() {
  return g_interrupted.load();
}

void write_alignment_csv(const std::vector<LayerAlignment>& result, const std::string& path) {
  io::CsvTable t({"layer", "expert", "status", "cos", "lambda", "sigma1", "sigma2", "gap_ratio",
                  "router_norm"});
  // A quantity the status leaves undefined is an empty cell, never a 0 that reads as a result:
  // cos and λ need u₁ (Ok); σ needs a finite, converged solve; σ₂/σ₁ also needs σ₁ > 0.
  for (const auto& l : result)
    for (const auto& e : l.experts) {
      const bool ok = e.status == DirectionStatus::Ok;
      const bool sigma =
          ok || e.status == DirectionStatus::Degenerate || e.status == DirectionStatus::Zero;
      auto cell = [](bool defined, double v) { return defined ? io::format_number(v) : ""; };
      t.add_row({std::to_string(l.layer), std::to_string(e.expert),
                 std::string(to_string(e.status)), cell(ok, e.cos), cell(ok, e.lambda),
                 cell(sigma, e.sigma1), cell(sigma, e.sigma2),
                 cell(sigma && e.status != DirectionStatus::Zero, e.gap_ratio),
                 io::format_number(e.router_norm)});
    }
  if (path == "-")
    std::fputs(t.str().c_str(), stdout);
  else
    t.write(path);
}

std::unique_ptr<ComputeBackend> device_backend(const std::string& command,
                                               const std::string& device, int threads) {
  BackendChoice choice = choose_backend(parse_device(device), threads);
  std::fprintf(stderr, "%s: %s\n", command.c_str(), choice.note.c_str());
  return std::move(choice.backend);
}

} // namespace routerscope::cli
