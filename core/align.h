#pragma once
// The router–expert alignment report: for every routed expert of the chosen layers, its principal
// direction u₁ (of gate, up or down) and how well the stored router row agrees with it.
#include "core/compute_backend.h"
#include "core/metrics.h"
#include "core/model.h"
#include "core/progress.h"
#include "core/spectral.h"

#include <cstddef>
#include <vector>

namespace routerscope {

struct ExpertAlignment {
  int expert = 0;
  double cos = 0;    // |cos(R[i], u₁)|
  double lambda = 0; // λ (Eq. 11) of the stored router row
  double sigma1 = 0, sigma2 = 0;
  double gap_ratio = 0;   // σ₂/σ₁
  double router_norm = 0; // ‖R[i]‖
  double weight_norm = 0; // Frobenius norm of the chosen expert matrix (‖G‖_F)
  DirectionStatus status = DirectionStatus::Ok;
  VectorF u1; // the principal direction (empty when not Ok)
};

struct LayerAlignment {
  int layer = 0;
  std::vector<ExpertAlignment> experts;
  Summary cos, lambda, gap_ratio, router_norm; // over experts whose status is Ok
};

struct AlignOptions {
  ExpertMatrix matrix = ExpertMatrix::Gate;
  SpectralOptions spectral;
  std::vector<int> layers; // decoder layer indices; empty = every MoE layer
  int threads = 0;         // 0 = hardware concurrency
  // Where the principal directions are computed; null = the CPU, one expert decoded at a time. A
  // backend that batches layers gets the experts decoded in groups of at most batch_bytes of
  // float operators, one call per group.
  const ComputeBackend* backend = nullptr;
  std::size_t batch_bytes = std::size_t(1) << 30;
};

// Decodes one expert at a time (peak memory ~ one layer's router plus `threads` experts).
std::vector<LayerAlignment> align_model(const MoeModel& model, const AlignOptions& options,
                                        const Progress& progress = {});

} // namespace routerscope
