#pragma once
// Small Mixtral checkpoints for series tests: every expert's gate matrix w1 has a planted SVD
// (known u₁ = v₁, σ₁, σ₂/σ₁ and Frobenius norm) and every router row sits at a known angle θ to
// u₁, in the plane of the first two right singular vectors, so |cos|, λ and the norms have closed
// forms: |cos| = |cos θ|, λ = sqrt(cos²θ + sin²θ·ρ²) (ρ = σ₂/σ₁), ‖Rᵢ‖ = r, ‖G‖_F = sqrt(Σ s²).
#include "tests/support/family_checkpoint.h"

#include <filesystem>
#include <vector>

namespace routerscope::test {

struct PlantedSeriesSpec {
  int layers = 2, experts = 4, d_model = 16, d_expert = 8, top_k = 2;
  double angle_scale = 1.0; // θ of (layer, expert) = angle_scale · base angle (shrinks over steps)
  double weight_scale = 1.0; // every singular value times this (experts grow over steps)
  std::uint64_t seed = 7;    // the singular vectors (the same for every checkpoint of a series)
};

// The closed-form values of one expert.
struct PlantedExpertValues {
  double cos = 0, lambda = 0, sigma1 = 0, ratio = 0, router_norm = 0, weight_norm = 0;
};

struct PlantedSeriesCheckpoint {
  FamilyCheckpoint files;
  std::vector<std::vector<PlantedExpertValues>> expected; // [layer][expert]
};

// Writes the checkpoint into `dir` (config.json + model.safetensors, F32) and returns its
// closed-form values.
PlantedSeriesCheckpoint write_planted_series_checkpoint(const std::filesystem::path& dir,
                                                        const PlantedSeriesSpec& spec);

} // namespace routerscope::test
