#include "io/figure_export.h"

#include "core/error.h"
#include "io/atomic_file.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>

namespace routerscope::io {

namespace {

constexpr const char* kFontFamily = "DejaVu Sans";

void set_font(cairo_t* cr, const TextStyle& style) {
  cairo_select_font_face(cr, kFontFamily, CAIRO_FONT_SLANT_NORMAL,
                         style.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, style.size);
}

void set_color(cairo_t* cr, const Color& c) {
  cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a);
}

// Canvas on a Cairo context whose user unit is one point.
class CairoCanvas : public Canvas {
public:
  // smooth_images: the target smooths scaled images whatever the pattern filter says (SVG
  // viewers), so images are enlarged by pixel replication before they are embedded.
  explicit CairoCanvas(cairo_t* cr, bool smooth_images = false)
      : cr_(cr), smooth_images_(smooth_images) {
    // Unhinted metrics: text is laid out identically at every resolution and in every format.
    cairo_font_options_t* fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_set_font_options(cr_, fo);
    cairo_font_options_destroy(fo);
    cairo_set_line_join(cr_, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr_, CAIRO_LINE_CAP_BUTT);
  }

  void stroke(const Path& path, const Stroke& s) override {
    bool any = false;
    for (const auto& run : path) {
      if (run.size() < 2) {
        continue;
      }
      cairo_move_to(cr_, run[0].x, run[0].y);
      for (std::size_t i = 1; i < run.size(); ++i) {
        cairo_line_to(cr_, run[i].x, run[i].y);
      }
      any = true;
    }
    if (!any) {
      return;
    }
    set_color(cr_, s.color);
    cairo_set_line_width(cr_, s.width);
    cairo_set_dash(cr_, s.dashes.empty() ? nullptr : s.dashes.data(),
                   static_cast<int>(s.dashes.size()), 0);
    cairo_stroke(cr_);
  }

  void fill(const Path& path, const Color& color) override {
    bool any = false;
    for (const auto& run : path) {
      if (run.size() < 3) {
        continue;
      }
      cairo_move_to(cr_, run[0].x, run[0].y);
      for (std::size_t i = 1; i < run.size(); ++i) {
        cairo_line_to(cr_, run[i].x, run[i].y);
      }
      cairo_close_path(cr_);
      any = true;
    }
    if (!any) {
      return;
    }
    set_color(cr_, color);
    cairo_set_fill_rule(cr_, CAIRO_FILL_RULE_WINDING);
    cairo_fill(cr_);
  }

  void fill_rect(const Rect& r, const Color& color) override {
    cairo_rectangle(cr_, r.x, r.y, r.w, r.h);
    set_color(cr_, color);
    cairo_fill(cr_);
  }

  void text(Point origin, const std::string& text, const TextStyle& style,
            double rotation_deg) override {
    cairo_save(cr_);
    set_font(cr_, style);
    set_color(cr_, style.color);
    cairo_translate(cr_, origin.x, origin.y);
    cairo_rotate(cr_, -rotation_deg * std::numbers::pi / 180.0);
    cairo_move_to(cr_, 0, 0);
    cairo_show_text(cr_, text.c_str());
    cairo_new_path(cr_);
    cairo_restore(cr_);
  }

  TextExtent measure(const std::string& text, const TextStyle& style) override {
    cairo_save(cr_);
    set_font(cr_, style);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, text.c_str(), &e);
    cairo_restore(cr_);
    return {e.x_advance, std::max(0.0, -e.y_bearing), std::max(0.0, e.height + e.y_bearing)};
  }

  void image(const Rect& dst, int w, int h, const std::vector<std::uint8_t>& rgba) override {
    if (w <= 0 || h <= 0 || rgba.size() != static_cast<std::size_t>(w) * h * 4) {
      throw_internal_error("figure image: " + std::to_string(rgba.size()) + " bytes for " +
                           std::to_string(w) + "x" + std::to_string(h) + " RGBA pixels");
    }
    if (smooth_images_) {
      // About 4 replicated pixels per point, at most ~4 M pixels: cells stay crisp when smoothed.
      int fx = std::max(1, static_cast<int>(std::ceil(dst.w * 4 / w)));
      int fy = std::max(1, static_cast<int>(std::ceil(dst.h * 4 / h)));
      while (static_cast<double>(w) * fx * h * fy > 4e6 && (fx > 1 || fy > 1)) {
        fx = std::max(1, fx / 2);
        fy = std::max(1, fy / 2);
      }
      if (fx > 1 || fy > 1) {
        std::vector<std::uint8_t> big(static_cast<std::size_t>(w) * fx * h * fy * 4);
        for (int y = 0; y < h * fy; ++y) {
          for (int x = 0; x < w * fx; ++x) {
            const std::size_t from = (static_cast<std::size_t>(y / fy) * w + x / fx) * 4;
            const std::size_t to = (static_cast<std::size_t>(y) * w * fx + x) * 4;
            std::copy_n(&rgba[from], 4, &big[to]);
          }
        }
        draw_image(dst, w * fx, h * fy, big);
        return;
      }
    }
    draw_image(dst, w, h, rgba);
  }

  void push_clip(const Rect& r) override {
    cairo_save(cr_);
    cairo_rectangle(cr_, r.x, r.y, r.w, r.h);
    cairo_clip(cr_);
  }
  void pop_clip() override { cairo_restore(cr_); }

private:
  void draw_image(const Rect& dst, int w, int h, const std::vector<std::uint8_t>& rgba) {
    cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cairo_surface_flush(img);
    unsigned char* data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (int y = 0; y < h; ++y) {
      auto* row = reinterpret_cast<std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride);
      for (int x = 0; x < w; ++x) {
        const std::uint8_t* p = &rgba[(static_cast<std::size_t>(y) * w + x) * 4];
        const std::uint32_t a = p[3];
        auto pm = [a](std::uint32_t c) { return (c * a + 127) / 255; }; // premultiplied
        row[x] = (a << 24) | (pm(p[0]) << 16) | (pm(p[1]) << 8) | pm(p[2]);
      }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr_);
    cairo_translate(cr_, dst.x, dst.y);
    cairo_scale(cr_, dst.w / w, dst.h / h);
    cairo_set_source_surface(cr_, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr_), CAIRO_FILTER_NEAREST);
    cairo_pattern_set_extend(cairo_get_source(cr_), CAIRO_EXTEND_PAD);
    cairo_rectangle(cr_, 0, 0, w, h);
    cairo_fill(cr_);
    cairo_restore(cr_);
    cairo_surface_destroy(img);
  }

  cairo_t* cr_;
  bool smooth_images_ = false;
};

// Cairo stream callback into an AtomicFile; errors are kept, never thrown through C.
struct Sink {
  AtomicFile* file;
  std::string error;
};
cairo_status_t write_sink(void* closure, const unsigned char* data, unsigned int length) {
  auto* sink = static_cast<Sink*>(closure);
  try {
    sink->file->write(data, length);
    return CAIRO_STATUS_SUCCESS;
  } catch (const std::exception& e) {
    sink->error = e.what();
    return CAIRO_STATUS_WRITE_ERROR;
  }
}

void check(cairo_status_t status, const std::filesystem::path& out, const Sink& sink) {
  if (status != CAIRO_STATUS_SUCCESS) {
    throw_input_error("cannot write figure " + out.string() + ": " +
                      (sink.error.empty() ? cairo_status_to_string(status) : sink.error));
  }
}

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using ContextPtr = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

void render(cairo_surface_t* surface, double scale, const Figure& figure, double w, double h,
            double pixels_per_point, bool smooth_images) {
  ContextPtr cr(cairo_create(surface), &cairo_destroy);
  cairo_scale(cr.get(), scale, scale);
  CairoCanvas canvas(cr.get(), smooth_images);
  draw_figure(figure, canvas, {w, h, pixels_per_point});
  if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS) {
    throw_internal_error(std::string("cairo drawing failed: ") +
                         cairo_status_to_string(cairo_status(cr.get())));
  }
}

std::string lower_extension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string num(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) {
    return s;
  }
  std::string out = "\"";
  for (char c : s) {
    out += c;
    if (c == '"') {
      out += '"';
    }
  }
  return out + "\"";
}

} // namespace

TextExtent measure_text(const std::string& text, const TextStyle& style) {
  SurfacePtr s(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1), &cairo_surface_destroy);
  ContextPtr cr(cairo_create(s.get()), &cairo_destroy);
  CairoCanvas canvas(cr.get());
  return canvas.measure(text, style);
}

void export_figure(const Figure& figure, const std::filesystem::path& out,
                   const ExportOptions& options) {
  const auto [fw, fh] = figure_size(figure);
  const double w = options.width > 0 ? options.width : fw;
  const double h = options.height > 0 ? options.height : fh;
  if (!(w > 0 && h > 0 && w < 1e5 && h < 1e5)) {
    throw_input_error("export " + out.string() + ": figure size " + std::to_string(w) + " x " +
                      std::to_string(h) + " pt is not positive and finite");
  }
  const std::string ext = lower_extension(out);
  if (ext != ".png" && ext != ".svg" && ext != ".pdf") {
    throw_input_error("export " + out.string() +
                      ": expected a .png, .svg or .pdf file name, found '" + ext + "'");
  }
  AtomicFile file(out);
  Sink sink{&file, {}};
  if (ext == ".png") {
    if (!(options.dpi >= 10 && options.dpi <= 2400)) {
      throw_input_error("export " + out.string() + ": dpi must be in [10, 2400], found " +
                        std::to_string(options.dpi));
    }
    const double ppp = options.dpi / kPointsPerInch;
    const int pw = static_cast<int>(std::lround(w * ppp)),
              ph = static_cast<int>(std::lround(h * ppp));
    if (pw > 32000 || ph > 32000) {
      throw_input_error("export " + out.string() + ": " + std::to_string(pw) + " x " +
                        std::to_string(ph) + " pixels is too large (at most 32000 per side)");
    }
    SurfacePtr surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, pw, ph),
                       &cairo_surface_destroy);
    render(surface.get(), ppp, figure, w, h, ppp, false);
    check(cairo_surface_write_to_png_stream(surface.get(), write_sink, &sink), out, sink);
  } else {
    SurfacePtr surface(ext == ".svg" ? cairo_svg_surface_create_for_stream(write_sink, &sink, w, h)
                                     : cairo_pdf_surface_create_for_stream(write_sink, &sink, w, h),
                       &cairo_surface_destroy);
    if (ext == ".svg") {
      cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PT);
    } else {
      cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_TITLE, figure.title.c_str());
      cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_CREATOR, "RouterScope");
    }
    // Vector output: decimate for a fine 600 dpi device so zooming in keeps detail.
    render(surface.get(), 1.0, figure, w, h, 600.0 / kPointsPerInch, ext == ".svg");
    cairo_surface_finish(surface.get());
    check(cairo_surface_status(surface.get()), out, sink);
  }
  file.commit();
}

std::string figure_csv(const Figure& figure) {
  std::string out = "panel,panel_title,kind,series,index,x,y,lower,upper,value\n";
  auto row = [&](std::size_t p, const std::string& kind, const std::string& name, std::size_t i,
                 const std::string& x, const std::string& y, const std::string& lo,
                 const std::string& up, const std::string& v) {
    out += std::to_string(p) + "," + csv_field(figure.panels[p].title) + "," + kind + "," +
           csv_field(name) + "," + std::to_string(i) + "," + x + "," + y + "," + lo + "," + up +
           "," + v + "\n";
  };
  for (std::size_t p = 0; p < figure.panels.size(); ++p) {
    const Panel& panel = figure.panels[p];
    for (const auto& l : panel.lines) {
      if (l.x.size() != l.y.size()) {
        throw_input_error("figure '" + figure.title + "' series '" + l.name + "': x has " +
                          std::to_string(l.x.size()) + " values but y has " +
                          std::to_string(l.y.size()));
      }
      for (std::size_t i = 0; i < l.x.size(); ++i) {
        row(p, "line", l.name, i, num(l.x[i]), num(l.y[i]), "", "", "");
      }
    }
    for (const auto& b : panel.bands) {
      if (b.lower.size() != b.x.size() || b.upper.size() != b.x.size()) {
        throw_input_error("figure '" + figure.title + "' band '" + b.name +
                          "': x, lower and upper lengths differ");
      }
      for (std::size_t i = 0; i < b.x.size(); ++i) {
        row(p, "band", b.name, i, num(b.x[i]), "", num(b.lower[i]), num(b.upper[i]), "");
      }
    }
    for (const auto& b : panel.bars) {
      if (b.height.size() != b.x.size()) {
        throw_input_error("figure '" + figure.title + "' bars '" + b.name +
                          "': x and height lengths differ");
      }
      for (std::size_t i = 0; i < b.x.size(); ++i) {
        row(p, "bar", b.name, i, num(b.x[i]), num(b.height[i]), "", "", "");
      }
    }
    if (panel.heatmap) {
      const Heatmap& h = *panel.heatmap;
      if (h.values.size() != static_cast<std::size_t>(h.rows) * static_cast<std::size_t>(h.cols)) {
        throw_input_error("figure '" + figure.title + "' heatmap '" + h.name +
                          "': values do not match rows x cols");
      }
      for (int r = 0; r < h.rows; ++r) {
        for (int c = 0; c < h.cols; ++c) {
          row(p, "heatmap", h.name, static_cast<std::size_t>(r) * h.cols + c,
              num(h.x0 + (c + 0.5) * h.dx), num(h.y0 + (r + 0.5) * h.dy), "", "",
              num(h.value(r, c)));
        }
      }
    }
  }
  return out;
}

void export_figure_csv(const Figure& figure, const std::filesystem::path& out) {
  const std::string text = figure_csv(figure);
  AtomicFile file(out);
  file.write(text.data(), text.size());
  file.commit();
}

} // namespace routerscope::io
