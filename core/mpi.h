#pragma once
// The MPI router ("Power-then-Retract", mpi.md): for expert i with direction operator G_i (stored
// [d, D], see direction_operator), R̂[i] = G_iᵀ(G_i R[i]) and R′[i] = C·R̂[i]/‖R̂[i]‖ with
// C = C′/√N. The stored router R stays the parameter; R′ is the router that routes.
#include "core/model.h"
#include "core/types.h"

#include <string_view>
#include <vector>

namespace routerscope {

struct MpiSettings {
  enum class Ablation {
    None,     // R′ = C·normalize((GᵀG)^k R)
    NoPower,  // R′ = C·normalize(R)       (paper Fig. 5 "no power step")
    NoRetract // R′ = (GᵀG)^k R            (paper Fig. 5 "no retraction")
  };
  ExpertMatrix matrix = ExpertMatrix::Gate;
  double c_prime = 4.0; // C′; the retraction radius is C = C′/√N (Eq. 7)
  int power_steps = 1;  // k power steps per forward pass
  Ablation ablation = Ablation::None;
  GateOrder order = GateOrder::SoftmaxTopk; // gating of the MPI router (pseudo code default)
  Scoring scoring = Scoring::Softmax;       // the sigmoid variant (§6) uses C = 1

  // The retraction radius C for N experts: C′/√N for softmax scoring, 1 for sigmoid.
  double radius(int experts) const;
};

std::string_view to_string(MpiSettings::Ablation a);
// Parses "none" | "no-power" | "no-retract"; throws BadInput otherwise.
MpiSettings::Ablation parse_ablation(std::string_view text);

// The layer's direction operators G_i [d, D] (one per routed expert) for settings.matrix.
std::vector<MatrixF> load_direction_operators(const MoeModel& model, int layer, ExpertMatrix m);

// Before MPI runs on a model's layer: a router row or an expert matrix holding NaN or Inf (R′ is
// then undefined) is BadInput naming the model, the layer, the expert and the tensor.
void check_mpi_inputs(const MoeModel& model, int layer, const MatrixF& r,
                      const std::vector<MatrixF>& g, ExpertMatrix m);

// R′ [N, D] from the stored router r [N, D] (logits = x·R′ᵀ) and g[i] [d, D] (N of them).
// Throws BadInput when a row's power step is zero (R′ undefined) or shapes disagree.
// With `pre_norms`, also the norms mpi_pre_retraction_norms gives, from the same pass.
MatrixF mpi_router(const MatrixF& r, const std::vector<MatrixF>& g, const MpiSettings& settings,
                   VectorD* pre_norms = nullptr);

// One row of mpi_router, for callers that hold one expert at a time (export of huge layers):
// R′[i] from the stored row R[i] [D] and G_i [d, D], for a layer of `experts` routed experts.
// With `pre_norm`, also ‖(GᵀG)^k R[i]‖ (see mpi_pre_retraction_norms).
VectorF mpi_router_row(const VectorF& row, const MatrixF& g, const MpiSettings& settings,
                       int experts, int expert_index, double* pre_norm = nullptr);
// Per-row norm of the vector that the retraction normalises: ‖(GᵀG)^k R[i]‖ (‖R[i]‖ for NoPower).
VectorD mpi_pre_retraction_norms(const MatrixF& r, const std::vector<MatrixF>& g,
                                 const MpiSettings& settings);

// Analytic backward pass: dL/dR [N, D] from dL/dR′ [N, D] at the stored router r. Only the router
// gradient is returned: the experts are frozen in RouterScope's training, so dL/dG_i is not
// computed (the paper's pseudo code would also send gradient into W_g).
MatrixF mpi_backward(const MatrixF& r, const std::vector<MatrixF>& g, const MpiSettings& settings,
                     const MatrixF& grad_routed);

} // namespace routerscope
