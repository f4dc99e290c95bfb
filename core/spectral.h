#pragma once
// Principal singular directions: for a matrix G with D columns, the unit vector u₁ ∈ ℝ^D that
// maximises ‖G u‖ (top right singular vector, top eigenvector of GᵀG), with σ₁ and σ₂.
#include "core/types.h"

#include <cstdint>
#include <string_view>
#include <vector>

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
  // ‖GᵀG u − θu‖ ≤ tolerance·θ₁ for both Ritz pairs, so sin∠(u, u₁) ≲ tolerance·σ₁²/(σ₁² − σ₂²)
  // (block Lanczos floors tolerance at 8·ε_float·√rows, the rounding level of its float products;
  // Spectra tests tolerance·θ on its recurrence estimate). Power: stop when the estimated distance
  // of the iterate to its limit, ‖u_{k+1} − u_k‖·q/(1 − q) (q = observed contraction per step), is
  // below max(tolerance, 32·ε_float); σ₂ from a power iteration deflated against u₁, stopped when
  // σ₂²'s estimated relative distance to its limit (same extrapolation) is that small.
  double tolerance = 1e-7;
  int max_iterations = 2000; // budget of products with GᵀG (per singular value for power)
  // Lanczos block size: 0 or 1 = single-vector Lanczos (Spectra SymEigsSolver, nev = 2; fastest
  // on the OLMoE benchmark, docs/PERFORMANCE.md); 8 = block Lanczos, 8 vectors per pass over G
  // (fewer passes, 8x the arithmetic per pass; D < 32 is solved exactly).
  int block_size = 0;
  int krylov_dim = 0; // Lanczos basis cap: ncv for Spectra (0 = 12), block basis (0 = 96 columns)
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

// A row-major [rows, cols] matrix of BF16 values given as their bit patterns (a float's upper 16
// bits), e.g. a BF16 tensor slice straight from a checkpoint's memory map.
struct Bf16Matrix {
  const std::uint16_t* bits = nullptr;
  int rows = 0, cols = 0;
};
// As above for a BF16 matrix. Single-vector Lanczos reads the bits directly (half the memory
// traffic of float, no decoded copy); the other methods decode to float first. Same results
// within float rounding; D = 0 still throws BadInput.
PrincipalDirection principal_direction(const Bf16Matrix& g, const SpectralOptions& options = {});

// The `count` largest singular values of g, descending (count <= 0: all min(rows, D)), exact in
// double through the smaller Gram matrix. Empty for an empty or non-finite matrix.
std::vector<double> singular_values(const MatrixF& g, int count = 0);

} // namespace routerscope
