// Tick positions and labels: nice linear steps, decades on log axes, and tick label text.
#include "core/figure_layout.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace routerscope {

namespace {

// The {1,2,5}×10^k steps around `raw`, ascending, starting at or below raw.
struct NiceStep {
  double step;
  int exponent;
};
NiceStep nice_step_at_least(double raw) {
  int e = static_cast<int>(std::floor(std::log10(raw)));
  for (;; ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double s = m * std::pow(10.0, e);
      if (s >= raw * (1 - 1e-12)) {
        return {s, e};
      }
    }
  }
}
NiceStep next_nice_step(NiceStep s) {
  const double m = s.step / std::pow(10.0, s.exponent);
  if (m < 1.5) {
    return {2 * std::pow(10.0, s.exponent), s.exponent};
  }
  if (m < 3.5) {
    return {5 * std::pow(10.0, s.exponent), s.exponent};
  }
  return {std::pow(10.0, s.exponent + 1), s.exponent + 1};
}

// Integer multiple k·step, computed so that decimal steps print exactly.
double tick_value(long long k, const NiceStep& s) {
  const double m = std::round(s.step / std::pow(10.0, s.exponent));
  if (s.exponent < 0) {
    return static_cast<double>(k) * m / std::pow(10.0, -s.exponent);
  }
  return static_cast<double>(k) * m * std::pow(10.0, s.exponent);
}

void widen_degenerate(double& lo, double& hi) {
  if (!(hi > lo)) {
    const double d = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
}

std::string superscript_digits(int n) {
  static const char* kDigits[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string digits = std::to_string(std::abs(n));
  std::string out = n < 0 ? "⁻" : "";
  for (char c : digits) {
    out += kDigits[c - '0'];
  }
  return out;
}

} // namespace

Ticks nice_ticks(double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    throw_input_error("nice_ticks: axis range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "] is not finite");
  }
  widen_degenerate(lo, hi);
  if (!std::isfinite(hi - lo)) {
    throw_input_error("nice_ticks: axis range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "] is wider than a double holds");
  }
  max_ticks = std::max(max_ticks, 2);
  NiceStep s = nice_step_at_least((hi - lo) / (max_ticks - 1));
  for (;;) {
    const long long k0 = static_cast<long long>(std::floor(lo / s.step + 1e-9));
    const long long k1 = static_cast<long long>(std::ceil(hi / s.step - 1e-9));
    if (k1 - k0 + 1 <= max_ticks) {
      Ticks t;
      t.step = s.step;
      t.step_exponent = s.exponent;
      for (long long k = k0; k <= k1; ++k) {
        t.values.push_back(tick_value(k, s));
      }
      t.lo = t.values.front();
      t.hi = t.values.back();
      return t;
    }
    s = next_nice_step(s);
  }
}

Ticks nice_ticks_within(double lo, double hi, int max_ticks, bool integer_only) {
  widen_degenerate(lo, hi);
  max_ticks = std::max(max_ticks, 2);
  NiceStep s = nice_step_at_least(std::max((hi - lo) / (max_ticks - 1), integer_only ? 1.0 : 0.0));
  for (;;) {
    const long long k0 = static_cast<long long>(std::ceil(lo / s.step - 1e-9));
    const long long k1 = static_cast<long long>(std::floor(hi / s.step + 1e-9));
    if (k1 - k0 + 1 <= max_ticks) {
      Ticks t;
      t.lo = lo;
      t.hi = hi;
      t.step = s.step;
      t.step_exponent = s.exponent;
      for (long long k = k0; k <= k1; ++k) {
        t.values.push_back(tick_value(k, s));
      }
      return t;
    }
    s = next_nice_step(s);
  }
}

Ticks log_ticks(double lo, double hi) {
  if (!(lo > 0) || !(hi > 0) || !std::isfinite(lo) || !std::isfinite(hi)) {
    throw_input_error("log axis: limits must be positive and finite, found [" + std::to_string(lo) +
                      ", " + std::to_string(hi) + "]");
  }
  int e0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  int e1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (e1 <= e0) {
    e1 = e0 + 1;
  }
  Ticks t;
  t.step = 10;
  t.step_exponent = 1;
  const int stride = std::max(1, (e1 - e0 + 7) / 8); // at most about 8 labelled decades
  for (int e = e0; e <= e1; e += stride) {
    t.values.push_back(std::pow(10.0, e));
  }
  t.lo = std::pow(10.0, e0);
  t.hi = std::pow(10.0, e1);
  return t;
}

std::string format_power_of_ten(int exponent) {
  return "10" + superscript_digits(exponent);
}

std::string format_tick(double value, int step_exponent, double max_abs) {
  char buf[64];
  const bool scientific = max_abs >= 1e5 || max_abs < 1e-3;
  if (value == 0 || std::abs(value) < 1e-12 * max_abs) {
    // zero carries the same decimals as its neighbours ("0.0" beside "0.5")
    std::snprintf(buf, sizeof buf, "%.*f", scientific ? 0 : std::max(0, -step_exponent), 0.0);
    return buf;
  }
  if (!scientific) {
    const int decimals = std::max(0, -step_exponent);
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    std::string s = buf;
    if (s[0] == '-') {
      s = "−" + s.substr(1); // typographic minus
    }
    return s;
  }
  const int n = static_cast<int>(std::floor(std::log10(std::abs(value)) + 1e-9));
  const double mantissa = value / std::pow(10.0, n);
  const int decimals = std::max(0, n - step_exponent);
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 6), mantissa);
  std::string m = buf;
  if (m.find('.') != std::string::npos) { // "1.0×10⁶" reads better as "10⁶"
    m.erase(m.find_last_not_of('0') + 1);
    if (m.back() == '.') {
      m.pop_back();
    }
  }
  if (m[0] == '-') {
    m = "−" + m.substr(1);
  }
  if (m == "1") {
    return format_power_of_ten(n);
  }
  if (m == "−1") {
    return "−" + format_power_of_ten(n);
  }
  return m + "×" + format_power_of_ten(n);
}

} // namespace routerscope
