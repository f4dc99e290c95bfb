#pragma once
// Convergence stepping (mpi.md "What MPI steps means"): R_{t+1} = MPI(R_t) on a loaded
// checkpoint, which for fixed weights is power iteration on G_iᵀG_i per router row. Kept apart from
// core/mpi.h because it needs the spectral solver for u₁, σ₁, σ₂.
#include "core/compute_backend.h"
#include "core/model.h"
#include "core/mpi.h"
#include "core/progress.h"
#include "core/spectral.h"

#include <functional>
#include <memory>
#include <vector>

namespace routerscope {

struct ConvergenceSettings {
  MpiSettings mpi;
  int steps = 20;          // T: rows 0..T are recorded
  std::vector<int> layers; // decoder layer indices; empty = every MoE layer
  SpectralOptions spectral;
  const ComputeBackend* backend = nullptr; // where directions and steps run; null = the CPU
};

// One row (step t) for every expert of a layer; each vector has length N.
struct ConvergenceRow {
  int step = 0;
  VectorD cos;         // |cos(R_t[i], u₁)|
  VectorD lambda;      // λ of R_t[i] (Eq. 11)
  VectorD router_norm; // ‖R_t[i]‖
  VectorD pre_norm;    // ‖(GᵀG)^k R_{t−1}[i]‖, the norm before retraction (NaN at t = 0)
  VectorD tan_theta;   // observed tan∠(R_t[i], u₁)
  VectorD tan_bound;   // (σ₂/σ₁)^{2kt}·tan θ₀ (k = power steps; 0 for no-power)
};

struct LayerConvergence {
  int layer = 0;
  std::vector<PrincipalDirection> directions; // u₁, σ₁, σ₂ per expert
  std::vector<ConvergenceRow> rows;           // steps + 1 rows, row 0 = the checkpoint
};

// Called after each row of each layer (for records and live views).
using ConvergenceCallback =
    std::function<void(const LayerConvergence& layer, const ConvergenceRow& row)>;

// Resumable convergence stepping of one layer, the one stepper of `mpi`, `report` and the GUI:
// holds R_t (carried at unit length with a separate log-scale for the no-retract ablation, whose
// rows overflow or underflow in float otherwise), the layer's operators on the backend and its
// principal directions. Row 0 (the checkpoint) is measured at construction; each step() applies
// one MPI step (k power steps, then the retraction) and measures the next row.
class ConvergenceStepper {
public:
  // r [N, D] and g[i] [d, D] (kept: the backend's upload may refer to them). `directions` (u₁,
  // σ₁, σ₂ and status per expert) are computed on the backend when empty. BadInput when the
  // router's rows and the experts disagree.
  ConvergenceStepper(int layer, MatrixF r, std::vector<MatrixF> g,
                     const ConvergenceSettings& settings, const Progress& progress = {},
                     std::vector<PrincipalDirection> directions = {});
  ~ConvergenceStepper();
  ConvergenceStepper(const ConvergenceStepper&) = delete;
  ConvergenceStepper& operator=(const ConvergenceStepper&) = delete;

  const ConvergenceRow& step(); // one more step; its row
  const LayerConvergence& result() const { return out_; }
  LayerConvergence take() { return std::move(out_); } // the rows so far (the stepper is spent)
  int steps() const { return int(out_.rows.size()) - 1; }
  // R_t at its true scale (the router the next step starts from).
  MatrixF router() const;

private:
  std::vector<MatrixF> g_;
  MpiSettings mpi_;
  std::unique_ptr<ComputeBackend> cpu_;
  const ComputeBackend* backend_ = nullptr;
  std::unique_ptr<LayerOperators> ops_; // g_ on the backend (declared after g_)
  int per_step_ = 0;                    // power steps per MPI step (0 for no-power)
  bool carried_ = false;                // no-retract: rows at unit length, scale in log_scale_
  MatrixF current_;
  VectorD log_scale_, tan0_;
  LayerConvergence out_;
};

// Steps one layer given its router r [N, D] and direction operators g[i] [d, D]. Stops after the
// current row when progress is cancelled (the rows so far are returned).
LayerConvergence converge_layer(int layer, const MatrixF& r, const std::vector<MatrixF>& g,
                                const ConvergenceSettings& settings,
                                const ConvergenceCallback& callback = {},
                                const Progress& progress = {});

// tan∠(r, u₁) from |cos|: sqrt(1 − c²)/c (∞ when orthogonal, NaN when c is NaN).
double tan_from_cos(double c);

// Whether an observed tan θ_t respects its bound (σ₂/σ₁)^{2kt}·tan θ₀, with a relative slack of
// 1e-3 and an absolute floor of 8·ε_float (9.5e-7): a float router row cannot resolve a smaller
// angle (its rounding alone is ~ε_float ≈ 1.2e-7), so below that the angle is rounding, not
// convergence. NaN on either side is never within.
bool within_bound(double tan_theta, double tan_bound);

// Every chosen layer of a model, one layer's experts decoded at a time.
std::vector<LayerConvergence> mpi_convergence(const MoeModel& model,
                                              const ConvergenceSettings& settings,
                                              const ConvergenceCallback& callback = {},
                                              const Progress& progress = {});

} // namespace routerscope
