// Issue 14: every named figure holds its layout at the sizes the GUI draws it (a 1024×640 window
// down to 1920×1080) and at its export size — no two text boxes overlap and no text leaves the
// canvas. The records come from the CLI (mpi, train, pretrain, series); the text is measured with
// the export font (Cairo), the boxes come from the layout's own text commands.
#include "core/figure_layout.h"
#include "core/figure_options.h"
#include "io/figure_export.h"
#include "io/record_figures.h"
#include "io/run_record.h"
#include "tests/support/series_checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

namespace routerscope {
namespace {

// Records text boxes as laid out, measuring text with the export font.
class BoxCanvas : public RecordingCanvas {
public:
  struct Box {
    Rect r;
    std::string text;
  };
  TextExtent measure(const std::string& text, const TextStyle& style) override {
    return io::measure_text(text, style);
  }
  void text(Point o, const std::string& s, const TextStyle& style, double rotation) override {
    const TextExtent e = io::measure_text(s, style);
    Rect r;
    if (std::abs(rotation) < 1e-9) {
      r = {o.x, o.y - e.ascent, e.width, e.ascent + e.descent};
    } else if (std::abs(rotation - 90) < 1e-9) { // reads bottom to top: x ← ascent, y ← width
      r = {o.x - e.ascent, o.y - e.width, e.ascent + e.descent, e.width};
    } else {
      ADD_FAILURE() << "text '" << s << "' rotated by " << rotation << "°";
    }
    if (!s.empty())
      boxes.push_back({r, s});
  }
  std::vector<Box> boxes;
};

bool overlap(const Rect& a, const Rect& b, double slack) {
  return a.x + slack < b.right() && b.x + slack < a.right() && a.y + slack < b.bottom() &&
         b.y + slack < a.bottom();
}

// The overlapping pairs and the boxes outside the canvas, as text ("" when none).
std::string layout_faults(const Figure& figure, double w, double h) {
  BoxCanvas canvas;
  LayoutOptions opt;
  opt.width = w;
  opt.height = h;
  Figure f = figure;
  f.width = w;
  f.height = h;
  draw_figure(f, canvas, opt);
  std::ostringstream out;
  const auto& b = canvas.boxes;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b[i].r.x < -0.5 || b[i].r.y < -0.5 || b[i].r.right() > w + 0.5 || b[i].r.bottom() > h + 0.5)
      out << "  '" << b[i].text << "' leaves the canvas\n";
    for (std::size_t j = i + 1; j < b.size(); ++j)
      if (overlap(b[i].r, b[j].r, 0.5))
        out << "  '" << b[i].text << "' overlaps '" << b[j].text << "'\n";
  }
  return out.str();
}

// ctest runs each test in its own process, so each makes only the record it checks.
class FigureLayout : public ::testing::Test {
protected:
  static void run(std::vector<std::string> args) {
    auto r = test::run_routerscope(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Every figure of the record at the GUI's sizes (points: the figure area of a 1024×640 window
  // at the default UI scale, of 1440×900 and of 1920×1080) and at its own export size.
  void check_record(const std::filesystem::path& file) {
    if (HasFatalFailure()) // the command that writes it failed
      return;
    const RunRecord r = io::read_run_record(file);
    for (const std::string& name : io::record_figure_names(r)) {
      Figure f = io::record_figure(r, name);
      const auto [ew, eh] = figure_size(f);
      const std::pair<double, double> sizes[] = {{400, 280}, {600, 400}, {880, 520}, {ew, eh}};
      for (const auto& [w, h] : sizes) {
        const std::string faults = layout_faults(f, w, h);
        EXPECT_EQ(faults, "") << file << ": figure " << name << " at " << w << "×" << h << " pt:\n"
                              << faults;
      }
    }
  }
  test::TempDir dir_{"overlap"};
};

TEST_F(FigureLayout, ConvergenceFiguresHoldAtEveryGuiSize) {
  run({"mpi", "--steps", "25", "--record", (dir_ / "conv.h5").string()});
  check_record(dir_ / "conv.h5");
}

TEST_F(FigureLayout, TrainingFiguresHoldAtEveryGuiSize) {
  run({"train", "--steps", "60", "--variants", "vanilla,mpi,no-power", "--record",
       (dir_ / "train.h5").string()});
  check_record(dir_ / "train.h5");
}

TEST_F(FigureLayout, PretrainingFiguresHoldAtEveryGuiSize) {
  run({"pretrain", "--quick", "--steps", "12", "--eval-every", "4", "--align-every", "4",
       "--record", (dir_ / "pre.h5").string()});
  check_record(dir_ / "pre.h5");
}

TEST_F(FigureLayout, SeriesFiguresHoldAtEveryGuiSize) {
  // Four planted checkpoints whose routers turn toward u₁.
  std::vector<std::string> series = {"series"};
  for (int c = 0; c < 4; ++c) {
    test::PlantedSeriesSpec spec;
    spec.angle_scale = 1.0 - 0.25 * c;
    const auto folder = dir_ / ("checkpoint-" + std::to_string(100 * (c + 1)));
    test::write_planted_series_checkpoint(folder, spec);
    series.push_back(folder.string());
  }
  series.insert(series.end(), {"--record", (dir_ / "series.h5").string()});
  run(series);
  check_record(dir_ / "series.h5");
}

} // namespace
} // namespace routerscope
