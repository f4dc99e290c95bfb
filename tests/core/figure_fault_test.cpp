// Figures of extreme finite values (issue 15, finding 8): a record holding 1e308 made the axis
// span overflow (signed overflow in the tick arithmetic under UBSan, "invalid matrix" in Cairo).
// Values beyond ±1e300 now lie off the axis like ±Inf; everything drawn stays finite.
#include "core/error.h"
#include "core/figure.h"
#include "core/figure_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <variant>

namespace routerscope {
namespace {

Figure line_figure(std::vector<double> y) {
  Figure f;
  Panel p;
  LineSeries l;
  l.name = "loss";
  for (std::size_t i = 0; i < y.size(); ++i)
    l.x.push_back(double(i));
  l.y = std::move(y);
  p.lines.push_back(l);
  f.panels.push_back(p);
  return f;
}

// Every point the canvas received is finite and within what a renderer's fixed point holds.
void expect_finite_drawing(const RecordingCanvas& canvas) {
  for (const auto& cmd : canvas.cmds) {
    if (const auto* s = std::get_if<RecordingCanvas::StrokeCmd>(&cmd)) {
      for (const auto& run : s->path) {
        for (const auto& pt : run) {
          ASSERT_TRUE(std::isfinite(pt.x) && std::isfinite(pt.y));
          EXPECT_LT(std::abs(pt.x) + std::abs(pt.y), 1e7);
        }
      }
    }
    if (const auto* t = std::get_if<RecordingCanvas::TextCmd>(&cmd)) {
      EXPECT_EQ(t->text.find("inf"), std::string::npos) << t->text;
    }
  }
}

TEST(FigureFaults, ValuesNear1e308LieOffAnAxisFittedToTheRest) {
  const Figure f = line_figure({0.5, 1.0, 1e308, 2.0, -1e308, 3.0});
  RecordingCanvas canvas;
  std::vector<PanelFrame> frames;
  ASSERT_NO_THROW(frames = draw_figure(f, canvas));
  ASSERT_EQ(frames.size(), 1u);
  // The axis covers the ordinary values [0.5, 3] and is not stretched towards 1e308.
  EXPECT_LE(frames[0].y_lo, 0.5);
  EXPECT_GE(frames[0].y_hi, 3.0);
  EXPECT_LT(frames[0].y_hi, 10.0);
  expect_finite_drawing(canvas);
}

TEST(FigureFaults, OnlyExtremeValuesAndTheLargestAxisSpanStillDraw) {
  for (const auto& y : std::vector<std::vector<double>>{
           {1e308, -1e308}, {1e300, -1e300}, {-1e300, 1e299, 0}, {1e-308, 4e-308}}) {
    RecordingCanvas canvas;
    std::vector<PanelFrame> frames;
    ASSERT_NO_THROW(frames = draw_figure(line_figure(y), canvas)) << y[0];
    EXPECT_TRUE(std::isfinite(frames[0].y_lo) && std::isfinite(frames[0].y_hi)) << y[0];
    EXPECT_LT(frames[0].y_lo, frames[0].y_hi) << y[0];
    expect_finite_drawing(canvas);
  }
}

TEST(FigureFaults, NiceTicksRejectARangeWiderThanADouble) {
  EXPECT_THROW(nice_ticks(-1e308, 1e308, 5), Error);
  const Ticks t = nice_ticks(-1e300, 1e300, 5);
  EXPECT_LE(t.lo, -1e300);
  EXPECT_GE(t.hi, 1e300);
  for (double v : t.values)
    EXPECT_TRUE(std::isfinite(v));
}

} // namespace
} // namespace routerscope
