#include "io/app_icon.h"

#include "core/error.h"
#include "io/atomic_file.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace routerscope::io {

namespace {

// Draws into a unit square scaled to `size` pixels.
void draw_icon(cairo_t* cr, double size) {
  cairo_scale(cr, size, size);
  // Rounded square background.
  const double r = 0.18, m = 0.04;
  cairo_new_sub_path(cr);
  cairo_arc(cr, 1 - m - r, m + r, r, -M_PI / 2, 0);
  cairo_arc(cr, 1 - m - r, 1 - m - r, r, 0, M_PI / 2);
  cairo_arc(cr, m + r, 1 - m - r, r, M_PI / 2, M_PI);
  cairo_arc(cr, m + r, m + r, r, M_PI, 3 * M_PI / 2);
  cairo_close_path(cr);
  cairo_set_source_rgb(cr, 0.11, 0.13, 0.20);
  cairo_fill(cr);
  // 4 x 4 alignment heatmap: |cos| rising along the diagonal, in viridis-like colours.
  const double x0 = 0.16, y0 = 0.16, cell = 0.17, gap = 0.02;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const double t =
          std::clamp(1.0 - 0.28 * std::abs(i - j) - 0.05 * ((i * 7 + j * 3) % 4), 0.0, 1.0);
      cairo_set_source_rgb(cr, 0.27 + 0.72 * t * t - 0.1 * t, 0.0 + 0.85 * t + 0.05,
                           0.33 + 0.25 * std::sin(M_PI * t) - 0.2 * t * t);
      cairo_rectangle(cr, x0 + j * (cell + gap), y0 + i * (cell + gap), cell, cell);
      cairo_fill(cr);
    }
  // A router vector (dashed) turning onto the principal direction (solid, with an arrowhead).
  auto arrow = [&](double angle, double length, bool head) {
    const double cx = 0.2, cy = 0.8;
    const double ex = cx + length * std::cos(angle), ey = cy - length * std::sin(angle);
    cairo_move_to(cr, cx, cy);
    cairo_line_to(cr, ex, ey);
    cairo_stroke(cr);
    if (head) {
      const double h = 0.1, w = 0.45;
      cairo_move_to(cr, ex, ey);
      cairo_line_to(cr, ex - h * std::cos(angle - w), ey + h * std::sin(angle - w));
      cairo_line_to(cr, ex - h * std::cos(angle + w), ey + h * std::sin(angle + w));
      cairo_close_path(cr);
      cairo_fill(cr);
    }
  };
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  cairo_set_line_width(cr, 0.045);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.55);
  const double dash[] = {0.05, 0.05};
  cairo_set_dash(cr, dash, 2, 0);
  arrow(M_PI / 2.6, 0.55, false);
  cairo_set_dash(cr, nullptr, 0, 0);
  cairo_set_source_rgb(cr, 1, 1, 1);
  arrow(M_PI / 4, 0.7, true);
}

cairo_status_t write_to_string(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

} // namespace

RgbaImage app_icon_image(int size) {
  if (size < 8 || size > 4096)
    throw_input_error("app icon: size " + std::to_string(size) + " is outside 8 .. 4096");
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, size, size);
  cairo_t* cr = cairo_create(surface);
  draw_icon(cr, size);
  cairo_destroy(cr);
  cairo_surface_flush(surface);
  RgbaImage out;
  out.width = out.height = size;
  out.pixels.resize(std::size_t(size) * size * 4);
  const unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      // Cairo: native-endian premultiplied ARGB32; the image: straight RGBA bytes.
      std::uint32_t p;
      std::memcpy(&p, data + std::size_t(y) * stride + std::size_t(x) * 4, 4);
      const unsigned a = p >> 24;
      auto un = [a](unsigned c) { return a ? std::uint8_t((c * 255 + a / 2) / a) : 0; };
      std::uint8_t* o = &out.pixels[(std::size_t(y) * size + x) * 4];
      o[0] = un((p >> 16) & 0xff);
      o[1] = un((p >> 8) & 0xff);
      o[2] = un(p & 0xff);
      o[3] = std::uint8_t(a);
    }
  cairo_surface_destroy(surface);
  return out;
}

void write_app_icon_svg(const std::filesystem::path& path, int size) {
  std::string svg;
  cairo_surface_t* surface = cairo_svg_surface_create_for_stream(write_to_string, &svg, size, size);
  cairo_t* cr = cairo_create(surface);
  draw_icon(cr, size);
  cairo_destroy(cr);
  cairo_surface_finish(surface);
  const cairo_status_t status = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  if (status != CAIRO_STATUS_SUCCESS)
    throw_internal_error("app icon: Cairo SVG surface failed: " +
                         std::string(cairo_status_to_string(status)));
  AtomicFile file(path);
  file.write(svg.data(), svg.size());
  file.commit();
}

} // namespace routerscope::io
