#pragma once
// Principal singular directions: for a matrix G with D columns, the unit vector u₁ ∈ ℝ^D that
// maximises ‖G u‖ (top right singular vector, top eigenvector of GᵀG), with σ₁ and σ₂.
#include "core/types.h"

#include <string_view>

namespace routerscope {

enum class SpectralMethod { Exact, Lanczos, Power };
std::string_view to_string(SpectralMethod m);
SpectralMethod parse_spectral_method(std::string_view text); // throws BadInput

enum class DirectionStatus {
  Ok,
  Degenerate, // σ₁ ≈ σ₂ within the solver's resolution: u₁ is not defined
  Zero,       // the matrix is all zeros
  NonFinite,  // the matrix holds NaN or Inf
  NotConverged
};
std::string_view to_string(DirectionStatus s);

struct SpectralOptions {
  SpectralMethod method = SpectralMethod::Lanczos;
  double tolerance = 1e-7; // convergence tolerance of the iterative methods (see spectral.cpp)
  int max_iterations = 2000;
};

struct PrincipalDirection {
  VectorF u1;         // unit, length D; sign fixed so that its largest-magnitude entry is positive
  double sigma1 = 0;  // σ₁(G)
  double sigma2 = 0;  // σ₂(G) (0 when G has one row or column)
  DirectionStatus status = DirectionStatus::Ok;
  int iterations = 0; // matrix-vector products with GᵀG (0 for exact)
};

// g: [rows, D] (for HF storage: gate/up as stored, down transposed; see direction_operator).
PrincipalDirection principal_direction(const MatrixF& g, const SpectralOptions& options = {});

} // namespace routerscope
