// Min/max decimation of line series to the pixel columns they are drawn on.
#include "core/figure_layout.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>

namespace routerscope {

std::vector<std::vector<std::size_t>> decimate_min_max(std::span<const double> x,
                                                       std::span<const double> y, double x_lo,
                                                       double x_hi, int pixel_width, bool x_log,
                                                       bool y_log) {
  if (x.size() != y.size()) {
    throw_input_error("decimate_min_max: x has " + std::to_string(x.size()) + " values but y has " +
                      std::to_string(y.size()));
  }
  if (x_log) {
    x_lo = std::log10(x_lo);
    x_hi = std::log10(x_hi);
  }
  if (!(x_hi > x_lo) || pixel_width < 1) {
    throw_input_error("decimate_min_max: empty x range or pixel width");
  }
  const double scale = pixel_width / (x_hi - x_lo);
  std::vector<std::vector<std::size_t>> runs;
  std::vector<std::size_t> run;
  bool active = false;
  long col = 0;
  std::size_t first = 0, last = 0, imin = 0, imax = 0;
  auto flush = [&] {
    if (!active) {
      return;
    }
    std::size_t keep[4] = {first, imin, imax, last};
    std::sort(keep, keep + 4);
    for (int k = 0; k < 4; ++k) {
      if (k == 0 || keep[k] != keep[k - 1]) {
        run.push_back(keep[k]);
      }
    }
    active = false;
  };
  auto end_run = [&] {
    flush();
    if (!run.empty()) {
      runs.push_back(std::move(run));
      run.clear();
    }
  };
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i], yi = y[i];
    if (std::isnan(xi) || std::isnan(yi) || (y_log && !(yi > 0)) || (x_log && !(xi > 0))) {
      end_run();
      continue;
    }
    const double u = ((x_log ? std::log10(xi) : xi) - x_lo) * scale;
    // Everything left (right) of the plot collapses into one column each.
    const long c = u < 0 ? -1 : (u >= pixel_width ? pixel_width : static_cast<long>(u));
    if (active && c == col) {
      last = i;
      if (yi < y[imin]) {
        imin = i;
      }
      if (yi > y[imax]) {
        imax = i;
      }
    } else {
      flush();
      active = true;
      col = c;
      first = last = imin = imax = i;
    }
  }
  end_run();
  return runs;
}

} // namespace routerscope
