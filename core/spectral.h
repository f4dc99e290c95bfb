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
  // Convergence tolerance of the iterative methods. Lanczos: relative Ritz residual
  // ‖GᵀG u − θu‖ ≤ tolerance·θ for both Ritz pairs (Spectra's test), so sin∠(u, u₁) ≲
  // tolerance·σ₁²/(σ₁² − σ₂²). Power: stop when the estimated distance of the iterate to its limit,
  // ‖u_{k+1} − u_k‖·q/(1 − q) (q = observed contraction per step), is below max(tolerance,
  // 32·ε_float); σ₂ from a power iteration deflated against u₁, stopped when σ₂²'s estimated
  // relative distance to its limit (same extrapolation) is that small.
  double tolerance = 1e-7;
  int max_iterations = 2000; // budget of products with GᵀG (per singular value for power)
  int krylov_dim = 0;        // Lanczos subspace size ncv (0 = automatic, min(D, 12))
};

// Relative gap (σ₁ − σ₂)/σ₁ below which u₁ is reported Degenerate: max(kDegenerateFloor,
// 10·tolerance) for the iterative methods, kDegenerateFloor for exact. kDegenerateFloor =
// 2⁷·ε_float (≈ 1.5e-5): the products run in float, and a float matrix itself is only known to
// ε_float relative, which moves u₁ by about ε_float·σ₁/(σ₁ − σ₂) radians, so a smaller gap leaves
// u₁ set by rounding rather than by the matrix.
inline constexpr double kDegenerateFloor = 128.0 * 1.1920928955078125e-07;
double degenerate_gap_threshold(const SpectralOptions& options);

struct PrincipalDirection {
  VectorF u1;        // unit, length D; sign fixed so that its largest-magnitude entry is positive
  double sigma1 = 0; // σ₁(G)
  double sigma2 = 0; // σ₂(G) (0 when G has one row or column)
  DirectionStatus status = DirectionStatus::Ok;
  int iterations = 0; // matrix-vector products with GᵀG (0 for exact)
};

// g: [rows, D] (for HF storage: gate/up as stored, down transposed; see direction_operator).
// Status Zero (all zeros or no rows), NonFinite (NaN/Inf anywhere), Degenerate (relative gap below
// degenerate_gap_threshold), NotConverged (max_iterations spent); u1 is empty unless Ok. Throws
// BadInput when D = 0 or an option is out of range. Thread-safe (no shared state).
PrincipalDirection principal_direction(const MatrixF& g, const SpectralOptions& options = {});

} // namespace routerscope
