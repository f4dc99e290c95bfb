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
