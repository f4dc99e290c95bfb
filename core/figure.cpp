#include "core/figure.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace routerscope {

Color color_from_hex(std::uint32_t rgb, double alpha) {
  return {((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0, (rgb & 0xff) / 255.0, alpha};
}

Color categorical_color(int index) {
  // Okabe & Ito (2008), "Color Universal Design", reordered so the first colours separate best.
  static constexpr std::array<std::uint32_t, kCategoricalColors> kOkabeIto = {
      0x0072B2, 0xD55E00, 0x009E73, 0xE69F00, 0xCC79A7, 0x56B4E9, 0x000000, 0xF0E442};
  const int n = kCategoricalColors;
  return color_from_hex(kOkabeIto[static_cast<std::size_t>(((index % n) + n) % n)]);
}

std::optional<Color> variant_color(const std::string& name) {
  static constexpr std::array<const char*, 4> kVariants = {"vanilla", "mpi", "no-power",
                                                           "no-retract"};
  const std::string word = name.substr(0, name.find(' '));
  for (std::size_t i = 0; i < kVariants.size(); ++i)
    if (word == kVariants[i])
      return categorical_color(static_cast<int>(i));
  return std::nullopt;
}

Color series_color(const std::string& name, int index) {
  return variant_color(name).value_or(categorical_color(index));
}

namespace {

struct Lab {
  double l, a, b;
};

double srgb_to_linear(double c) {
  return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}
double linear_to_srgb(double c) {
  c = std::clamp(c, 0.0, 1.0);
  return c <= 0.0031308 ? 12.92 * c : 1.055 * std::pow(c, 1.0 / 2.4) - 0.055;
}

// D65 white point; CIE 1976 L*a*b*.
constexpr double kXn = 0.95047, kYn = 1.0, kZn = 1.08883;
double lab_f(double t) {
  constexpr double d = 6.0 / 29.0;
  return t > d * d * d ? std::cbrt(t) : t / (3 * d * d) + 4.0 / 29.0;
}
double lab_f_inv(double t) {
  constexpr double d = 6.0 / 29.0;
  return t > d ? t * t * t : 3 * d * d * (t - 4.0 / 29.0);
}

Lab to_lab(const Color& c) {
  const double r = srgb_to_linear(c.r), g = srgb_to_linear(c.g), b = srgb_to_linear(c.b);
  const double x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b;
  const double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
  const double z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b;
  const double fx = lab_f(x / kXn), fy = lab_f(y / kYn), fz = lab_f(z / kZn);
  return {116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)};
}

Color from_lab(const Lab& lab) {
  const double fy = (lab.l + 16) / 116, fx = fy + lab.a / 500, fz = fy - lab.b / 200;
  const double x = kXn * lab_f_inv(fx), y = kYn * lab_f_inv(fy), z = kZn * lab_f_inv(fz);
  const double r = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z;
  const double g = -0.9692660 * x + 1.8760108 * y + 0.0415560 * z;
  const double b = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z;
  return {linear_to_srgb(r), linear_to_srgb(g), linear_to_srgb(b), 1.0};
}

// Piecewise-linear interpolation in CIELAB between equally spaced anchors, tabulated once.
class LabRamp {
public:
  explicit LabRamp(const std::vector<std::uint32_t>& anchors) {
    std::vector<Lab> lab;
    for (std::uint32_t a : anchors) {
      lab.push_back(to_lab(color_from_hex(a)));
    }
    const int segments = static_cast<int>(lab.size()) - 1;
    for (int i = 0; i < kSize; ++i) {
      const double t = static_cast<double>(i) / (kSize - 1) * segments;
      const int k = std::min(static_cast<int>(t), segments - 1);
      const double f = t - k;
      const Lab& p = lab[static_cast<std::size_t>(k)];
      const Lab& q = lab[static_cast<std::size_t>(k) + 1];
      table_[static_cast<std::size_t>(i)] =
          from_lab({p.l + f * (q.l - p.l), p.a + f * (q.a - p.a), p.b + f * (q.b - p.b)});
    }
  }
  Color at(double t) const {
    const double u = std::clamp(t, 0.0, 1.0) * (kSize - 1);
    const int k = std::min(static_cast<int>(u), kSize - 2);
    const double f = u - k;
    const Color& p = table_[static_cast<std::size_t>(k)];
    const Color& q = table_[static_cast<std::size_t>(k) + 1];
    return {p.r + f * (q.r - p.r), p.g + f * (q.g - p.g), p.b + f * (q.b - p.b), 1.0};
  }

private:
  static constexpr int kSize = 256;
  std::array<Color, kSize> table_{};
};

} // namespace

Color colormap_color(Colormap map, double t) {
  if (std::isnan(t)) {
    return {0.85, 0.85, 0.85, 1.0};
  }
  // Anchors: matplotlib's viridis and cividis (Nuñez et al. 2018) sampled at 9 and 5 equally spaced
  // points as published in their documentation; diverging: Moreland's cool–warm end points.
  static const LabRamp kViridis(
      {0x440154, 0x472D7B, 0x3B528B, 0x2C728E, 0x21908C, 0x27AD81, 0x5DC863, 0xAADC32, 0xFDE725});
  static const LabRamp kCividis({0x00204D, 0x414D6B, 0x7C7B78, 0xBCAF6F, 0xFFEA46});
  static const LabRamp kDiverging({0x3B4CC0, 0x8DB0FE, 0xF2F2F2, 0xF49A7B, 0xB40426});
  switch (map) {
  case Colormap::Viridis:
    return kViridis.at(t);
  case Colormap::Cividis:
    return kCividis.at(t);
  case Colormap::Diverging:
    return kDiverging.at(t);
  }
  return kViridis.at(t);
}

std::string Axis::title() const {
  return unit.empty() ? label : label + " (" + unit + ")";
}

int grid_columns(const Figure& figure) {
  const int n = static_cast<int>(figure.panels.size());
  if (figure.columns > 0) {
    return std::min(figure.columns, std::max(n, 1));
  }
  if (n <= 3) {
    return std::max(n, 1);
  }
  if (n == 4) {
    return 2;
  }
  return n <= 9 ? 3 : 4;
}

std::pair<double, double> figure_size(const Figure& figure) {
  if (figure.height > 0) {
    return {figure.width, figure.height};
  }
  const int n = std::max(static_cast<int>(figure.panels.size()), 1);
  const int cols = grid_columns(figure);
  const int rows = (n + cols - 1) / cols;
  const double cell = figure.width / cols;
  double height = rows * cell * (cols == 1 ? 0.72 : 0.78);
  if (!figure.title.empty()) {
    height += figure.style.title_font * 1.8;
  }
  if (figure.shared_legend) {
    height += figure.style.legend_font * 2.2;
  }
  return {figure.width, height};
}

} // namespace routerscope
