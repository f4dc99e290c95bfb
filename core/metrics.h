#pragma once
// One definition per quantity (DESIGN.md principle 2). Each function names its formula and source.
#include "core/types.h"

#include <span>

namespace routerscope {

// |cos(a, b)| = |a·b| / (‖a‖‖b‖); 0 when either vector is zero, NaN when either is not finite.
double abs_cos(const VectorF& a, const VectorF& b);

// Alignment λ = ‖G r‖₂ / (‖r‖₂ · σ₁(G)) ∈ [0, 1] (paper Eq. 11 with W_g = Gᵀ, G stored [d, D]);
// NaN when r, G or σ₁ is not finite.
double alignment_lambda(const VectorF& r, const MatrixF& g, double sigma1);

struct Summary {
  double mean = 0, min = 0, p50 = 0, p95 = 0, max = 0;
  int count = 0;
};
// Mean, extremes and percentiles (linear interpolation between order statistics, as numpy's
// default) of the finite values; NaN and ±Inf are skipped and count says how many were used
// (with none, every field is NaN and count is 0).
Summary summarize(std::span<const double> values);

} // namespace routerscope
