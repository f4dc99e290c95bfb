// How the training figures present a comparison (issue 14): a variant keeps its colour whatever its
// position in the record, the task loss and the LB loss have panels of their own with α stated,
// the variants' MaxVio panels share one y range, and titles name the layer. Oracles: the record's
// own values and the Okabe–Ito colour table.
#include "core/figure_options.h"
#include "io/record_figures.h"
#include "io/run_record.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace routerscope {
namespace {

TrainStepRecord step(const std::string& name, int s, double vio_scale) {
  TrainStepRecord r;
  r.name = name;
  r.step = s;
  r.task_loss = 1.0 / (s + 2);
  r.lb_loss = 0.012 + 0.001 * s;
  r.loss = r.task_loss + r.lb_loss;
  r.maxvio_batch = vio_scale * (1 + std::sin(0.9 * s));
  r.load = VectorD::LinSpaced(4, 1 + s, 4 + s);
  r.cos = VectorD::Constant(4, 0.5);
  r.lambda = VectorD::Constant(4, 0.25 + 0.01 * s);
  r.router_norm = VectorD::Constant(4, 2.0);
  if (name != "vanilla") {
    r.stored_cos = VectorD::Constant(4, 0.4);
    r.stored_norm = VectorD::Constant(4, 3.0 + s);
  }
  return r;
}

// A training record of layer 5 whose variants are listed mpi first, then vanilla.
RunRecord record() {
  std::vector<TrainStepRecord> steps;
  for (int s = 0; s < 12; ++s) {
    steps.push_back(step("mpi", s, 0.3));
    steps.push_back(step("vanilla", s, 0.9));
  }
  return training_record(steps, 5, R"({"lb_alpha": 0.01, "variants": ["mpi", "vanilla"]})");
}

const Panel& panel_titled(const Figure& f, const std::string& start) {
  for (const Panel& p : f.panels)
    if (p.title.rfind(start, 0) == 0)
      return p;
  ADD_FAILURE() << "no panel titled '" << start << "…'";
  return f.panels.front();
}

TEST(TrainingFigureStyle, VariantsKeepTheirColourOnEveryPage) {
  const RunRecord r = record();
  ASSERT_EQ(r.variants.front().name, "mpi");
  const Color blue = color_from_hex(0x0072B2), vermillion = color_from_hex(0xD55E00);
  int checked = 0;
  for (const std::string name : {"training", "norms"}) {
    const Figure f = io::record_figure(r, name);
    for (const Panel& p : f.panels)
      for (const LineSeries& l : p.lines) {
        ASSERT_TRUE(l.color) << name << ": " << l.name;
        if (l.name.rfind("vanilla", 0) == 0)
          EXPECT_EQ(*l.color, blue) << name << ": " << l.name;
        else if (l.name.rfind("mpi", 0) == 0)
          EXPECT_EQ(*l.color, vermillion) << name << ": " << l.name;
        else
          ADD_FAILURE() << name << ": unexpected line " << l.name;
        ++checked;
      }
  }
  EXPECT_EQ(checked, 4 * 2 + 3); // 4 training panels × 2 variants; norms: 2 routing + mpi stored
  // The load page's MaxVio panels draw each variant's curves in that variant's colour.
  int vio = 0;
  for (const Panel& p : io::record_figure(r, "load").panels)
    for (const LineSeries& l : p.lines) {
      const Color want = p.title.rfind("vanilla", 0) == 0 ? blue : vermillion;
      ASSERT_TRUE(l.color) << p.title << ": " << l.name;
      EXPECT_EQ(l.color->with_alpha(1), want) << p.title << ": " << l.name;
      ++vio;
    }
  EXPECT_EQ(vio, 2); // MaxVio batch per variant (this record has no held-out MaxVio)
}

TEST(TrainingFigureStyle, TaskLossAndLbLossArePanelsOfTheirOwnWithAlphaStated) {
  const RunRecord r = record();
  const Figure f = io::record_figure(r, "training");
  EXPECT_NE(f.title.find("layer 5"), std::string::npos) << f.title;
  const Panel& task = panel_titled(f, "task loss");
  const Panel& lb = panel_titled(f, "LB loss");
  EXPECT_NE(lb.title.find("α = 0.01"), std::string::npos) << lb.title;
  for (const auto& v : r.variants) {
    auto line = [&](const Panel& p) {
      return *std::find_if(p.lines.begin(), p.lines.end(),
                           [&](const LineSeries& l) { return l.name == v.name; });
    };
    const VectorD& want_task = v.scalars.at("task_loss");
    const VectorD& want_lb = v.scalars.at("lb_loss");
    ASSERT_EQ(line(task).y.size(), static_cast<std::size_t>(want_task.size()));
    for (Eigen::Index i = 0; i < want_task.size(); ++i) {
      EXPECT_EQ(line(task).y[static_cast<std::size_t>(i)], want_task(i));
      EXPECT_EQ(line(lb).y[static_cast<std::size_t>(i)], want_lb(i));
    }
  }
}

TEST(TrainingFigureStyle, MaxVioPanelsOfTheVariantsShareOneRange) {
  const RunRecord r = record();
  const Figure f = io::record_figure(r, "load");
  EXPECT_NE(f.title.find("layer 5"), std::string::npos) << f.title;
  double want = 0;
  for (const auto& v : r.variants)
    want = std::max(want, v.scalars.at("maxvio_batch").maxCoeff());
  int panels = 0;
  for (const Panel& p : f.panels)
    if (p.title.find("MaxVio") != std::string::npos) {
      ++panels;
      ASSERT_TRUE(p.y.min && p.y.max) << p.title;
      EXPECT_EQ(*p.y.min, 0.0);
      EXPECT_DOUBLE_EQ(*p.y.max, want) << p.title;
    }
  EXPECT_EQ(panels, 2);
}

TEST(TrainingFigureStyle, SmoothingAppliesToTheRecordFiguresCurves) {
  Figure f = io::record_figure(record(), "training");
  ViewOptions v;
  v.smoothing = 0.6;
  apply_view_options(f, v);
  const Panel& task = panel_titled(f, "task loss");
  ASSERT_EQ(task.lines.size(), 4u); // raw + smoothed per variant
  EXPECT_EQ(task.lines[0].name, "mpi (raw)");
  EXPECT_EQ(*task.lines[0].color, color_from_hex(0xD55E00).with_alpha(0.28));
}

} // namespace
} // namespace routerscope
