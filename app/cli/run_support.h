#pragma once
// Shared by the long-running subcommands (mpi, train): Ctrl-C as cooperative cancellation,
// a one-line progress display on stderr, and the checkpoint identity stored in run records.
#include "core/align.h"
#include "core/compute_backend.h"
#include "core/model.h"
#include "core/progress.h"
#include "io/run_record.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace routerscope::cli {

// Installs a SIGINT handler that sets the returned flag (the second Ctrl-C still kills);
// restores the previous handler when the object dies.
class InterruptGuard {
public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  const std::atomic<bool>* flag() const;
};

// True once Ctrl-C was pressed under an InterruptGuard (cli::run then exits 130).
bool was_interrupted();

// One CSV row per expert: layer, expert, status, cos, lambda, sigma1, sigma2, gap_ratio,
// router_norm; `path` "-" writes to stdout.
void write_alignment_csv(const std::vector<LayerAlignment>& result, const std::string& path);

// The backend of --device auto|cpu|cuda (default auto) for `command`. Prints one line to stderr
// saying which device runs (or why the GPU does not); --device cuda without a usable GPU is
// BadInput (exit 2).
std::unique_ptr<ComputeBackend> device_backend(const std::string& command,
                                               const std::string& device, int threads = 0);

} // namespace routerscope::cli
