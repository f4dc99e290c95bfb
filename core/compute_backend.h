#pragma once
// Where the heavy linear algebra of one MoE layer runs: principal directions of every expert, the
// MPI step, and token routing. The CPU backend (Eigen, Spectra) is the reference; gpu/ provides a
// CUDA backend that must agree with it (docs/ARCHITECTURE.md "Compute backends"). The choice is
// made once per command (`--device auto|cpu|cuda`).
#include "core/model.h"
#include "core/mpi.h"
#include "core/progress.h"
#include "core/routing.h"
#include "core/spectral.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace routerscope {

enum class Device { Auto, Cpu, Cuda };
Device parse_device(std::string_view text); // "auto" | "cpu" | "cuda"; BadInput otherwise

// One layer's direction operators G_e [rows, D] (direction_operator orientation) as the backend
// holds them: the host matrices for the CPU, device buffers for CUDA (uploaded once, reused by
// every call on the layer).
class LayerOperators {
public:
  virtual ~LayerOperators() = default;
  virtual int experts() const = 0;
  virtual int d_model() const = 0;
};

class ComputeBackend {
public:
  virtual ~ComputeBackend() = default;
  // "cpu" or "cuda: <device name>" (printed by the commands).
  virtual std::string name() const = 0;
  // True when experts are processed together (the caller then decodes groups of experts and
  // hands each group over in one call; for the CPU backend it streams one expert at a time).
  virtual bool batches_layers() const = 0;

  // Takes the layer's operators; the CPU backend keeps a reference, so `g` must outlive the result.
  virtual std::unique_ptr<LayerOperators> upload(const std::vector<MatrixF>& g) const = 0;

  // u₁, σ₁, σ₂ and status of every expert, with principal_direction's contract (sign, statuses,
  // tolerance). `options.method` selects the CPU solver; a GPU backend uses its own batched
  // iteration to the same tolerance.
  virtual std::vector<PrincipalDirection> principal_directions(const LayerOperators& layer,
                                                               const SpectralOptions& options,
                                                               const Progress& progress) const = 0;

  // R′ = mpi_router(r, g, settings) for router r [N, D]; with `pre_norms`, also
  // mpi_pre_retraction_norms (‖(GᵀG)^k r_i‖) in one pass.
  virtual MatrixF mpi_step(const LayerOperators& layer, const MatrixF& r,
                           const MpiSettings& settings, VectorD* pre_norms = nullptr) const = 0;

  // route_tokens(x, router, bias, rule, top_k) (logits, scores, probs, experts, weights).
  virtual Routing route(const MatrixF& x, const MatrixF& router, const VectorF& bias,
                        const RoutingRule& rule, int top_k) const = 0;
};

// The reference backend; `threads` as parallel_for (0 = one per hardware thread).
std::unique_ptr<ComputeBackend> make_cpu_backend(int threads = 0);

// gpu/ installs its factory at program start (app/cli/main.cpp); it returns nullptr and sets
// *why_not ("no CUDA driver", "no CUDA device", ...) when no GPU is usable.
using GpuBackendFactory = std::function<std::unique_ptr<ComputeBackend>(std::string* why_not)>;
void set_gpu_backend_factory(GpuBackendFactory factory);

struct BackendChoice {
  std::unique_ptr<ComputeBackend> backend;
  std::string note; // one line for the user: which device runs, or why the GPU does not
};
// Auto: the GPU when one works, else the CPU with a note saying why. Cuda: the GPU, or BadInput
// saying why not ("--device cuda: ..."). Cpu: the CPU.
BackendChoice choose_backend(Device device, int threads = 0);

} // namespace routerscope
