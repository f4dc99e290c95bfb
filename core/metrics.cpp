#include "core/metrics.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace routerscope {

double abs_cos(const VectorF& a, const VectorF& b) {
  if (a.size() != b.size())
    throw_input_error("abs_cos: vectors of length " + std::to_string(a.size()) + " and " +
                      std::to_string(b.size()) + " differ");
  const VectorD ad = a.cast<double>(), bd = b.cast<double>();
  // A non-finite input has no direction: NaN, never a perfect 1 (std::min(1.0, NaN) is 1).
  if (!ad.allFinite() || !bd.allFinite())
    return std::numeric_limits<double>::quiet_NaN();
  const double na = ad.norm(), nb = bd.norm();
  if (na == 0 || nb == 0)
    return 0.0;
  return std::min(1.0, std::abs(ad.dot(bd)) / (na * nb));
}

double alignment_lambda(const VectorF& r, const MatrixF& g, double sigma1) {
  if (r.size() != g.cols())
    throw_input_error("alignment_lambda: router row has length " + std::to_string(r.size()) +
                      ", expected D = " + std::to_string(g.cols()) + " (G is [d, D])");
  const VectorD rd = r.cast<double>();
  if (!rd.allFinite() || !std::isfinite(sigma1) || !g.allFinite())
    return std::numeric_limits<double>::quiet_NaN();
  const double nr = rd.norm();
  if (nr == 0 || !(sigma1 > 0))
    return 0.0;
  const VectorD gr = g.cast<double>() * rd;
  return gr.norm() / (nr * sigma1);
}

// numpy.percentile's default ("linear"): position (n − 1)·q between order statistics.
static double percentile_sorted(const std::vector<double>& s, double q) {
  const double pos = (static_cast<double>(s.size()) - 1.0) * q;
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, s.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return s[lo] + (s[hi] - s[lo]) * frac;
}

Summary summarize(std::span<const double> values) {
  std::vector<double> s;
  s.reserve(values.size());
  for (double v : values)
    if (std::isfinite(v))
      s.push_back(v);
  Summary out;
  out.count = static_cast<int>(s.size());
  if (s.empty()) {
    const double nan = std::nan("");
    out.mean = out.min = out.p50 = out.p95 = out.max = nan;
    return out;
  }
  std::sort(s.begin(), s.end());
  double sum = 0;
  for (double v : s)
    sum += v;
  out.mean = sum / static_cast<double>(s.size());
  out.min = s.front();
  out.max = s.back();
  out.p50 = percentile_sorted(s, 0.50);
  out.p95 = percentile_sorted(s, 0.95);
  return out;
}

} // namespace routerscope
