// Series of checkpoints (issue 16): steps from names and trainer_state.json, resolving PATHs
// (folders, globs, parent folders, Hub revisions), the compatibility check, the per-checkpoint
// cache and the series record with its figures.
#include "core/error.h"
#include "core/series.h"
#include "io/checkpoint.h"
#include "io/figure_export.h"
#include "io/run_record.h"
#include "io/series.h"
#include "io/series_figures.h"
#include "io/series_run.h"
#include "tests/support/hub_fixture.h"
#include "tests/support/series_checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <random>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

fs::path tiny_checkpoint(const fs::path& dir, std::optional<std::int64_t> global_step = {},
                         int experts = 4) {
  test::FamilySpec spec;
  spec.experts = experts;
  test::write_family_checkpoint(dir, spec);
  if (global_step)
    std::ofstream(dir / "trainer_state.json")
        << "{\"global_step\": " << *global_step << ", \"epoch\": 0.5}";
  return dir;
}

TEST(SeriesSteps, FromCheckpointAndRevisionNames) {
  // Keyword first, then the first number; the digits are generated so that nothing is built in.
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20; ++i) {
    const std::int64_t a = std::int64_t(rng() % 100000), b = std::int64_t(rng() % 100);
    const std::string A = std::to_string(a), B = std::to_string(b);
    EXPECT_EQ(io::step_from_name("checkpoint-" + A), a);
    EXPECT_EQ(io::step_from_name("step-" + A), a);
    EXPECT_EQ(io::step_from_name("step" + A + "-tokens" + B + "B"), a);
    EXPECT_EQ(io::step_from_name("global_step" + A), a);
    EXPECT_EQ(io::step_from_name("olmoe" + B + "-v" + B + "-step" + A), a);
    EXPECT_EQ(io::step_from_name("run" + B + "-final"), b);
  }
  EXPECT_FALSE(io::step_from_name("final").has_value());
  EXPECT_FALSE(io::step_from_name("").has_value());
}

TEST(SeriesResolve, OrdersByTrainerStateThenNameThenPosition) {
  test::TempDir dir("series-resolve");
  // Names say 3000 > 200 > 10; trainer_state.json of "checkpoint-3000" says 5 and wins.
  tiny_checkpoint(dir / "checkpoint-3000", 5);
  tiny_checkpoint(dir / "checkpoint-200");
  tiny_checkpoint(dir / "checkpoint-10");
  auto s =
      io::resolve_series({(dir / "checkpoint-200").string(), (dir / "checkpoint-3000").string(),
                          (dir / "checkpoint-10").string()});
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].step, 5);
  EXPECT_EQ(s[0].step_source, "trainer_state.json");
  EXPECT_NE(s[0].argument.find("checkpoint-3000"), std::string::npos);
  EXPECT_EQ(s[1].step, 10);
  EXPECT_EQ(s[1].step_source, "name");
  EXPECT_EQ(s[2].step, 200);

  // A glob and the parent folder name the same three.
  for (const std::string& arg : {(dir / "checkpoint-*").string(), dir.path().string()}) {
    SCOPED_TRACE(arg);
    auto g = io::resolve_series({arg});
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(g[0].step, 5);
    EXPECT_EQ(g[1].step, 10);
    EXPECT_EQ(g[2].step, 200);
  }

  // No number anywhere: the position among the arguments.
  test::TempDir other("series-position");
  tiny_checkpoint(other / "beta");
  tiny_checkpoint(other / "alpha");
  auto p = io::resolve_series({(other / "beta").string(), (other / "alpha").string()});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].step_source, "position");
  EXPECT_NE(p[0].argument.find("beta"), std::string::npos);
  EXPECT_NE(p[1].argument.find("alpha"), std::string::npos);

  // pretrain --save-every's DIR/step-N/<variant>: the parent folder's number.
  tiny_checkpoint(other / "step-40" / "mpi");
  tiny_checkpoint(other / "step-8" / "mpi");
  auto v = io::resolve_series({(other / "step-*" / "mpi").string()});
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].step, 8);
  EXPECT_EQ(v[1].step, 40);
}

TEST(SeriesResolve, HubRevisionsCarryTheirSteps) {
  test::TempDir dir("series-hub");
  const fs::path cache = dir / "hub";
  tiny_checkpoint(dir / "a");
  tiny_checkpoint(dir / "b");
  test::add_hub_snapshot(cache, "org/run", std::string(40, 'a'), dir / "a", {"step900-tokens4B"});
  test::add_hub_snapshot(cache, "org/run", std::string(40, 'b'), dir / "b", {"step30-tokens1B"});
  test::ScopedEnv env({{"HF_HUB_CACHE", cache.string()}});
  auto s = io::resolve_series({"org/run@step900-tokens4B", "org/run@step30-tokens1B"});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].step, 30);
  EXPECT_EQ(s[1].step, 900);
  EXPECT_EQ(s[1].argument, "org/run@step900-tokens4B");
  EXPECT_NE(s[1].path.find(std::string(40, 'a')), std::string::npos) << s[1].path;
  // A repo id without a revision: the number in the model's name is no step.
  test::add_hub_snapshot(cache, "org/model-7b", std::string(40, 'c'), dir / "a");
  auto m = io::resolve_series({"org/model-7b"});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].step_source, "position");
  EXPECT_EQ(m[0].step, 0);
}

TEST(SeriesResolve, BadInputNamesTheArguments) {
  test::TempDir dir("series-bad");
  tiny_checkpoint(dir / "checkpoint-5");
  tiny_checkpoint(dir / "step_5");
  std::string e = test::bad_input_message([&] {
    io::resolve_series({(dir / "checkpoint-5").string(), (dir / "step_5").string()});
  });
  EXPECT_NE(e.find("checkpoint-5"), std::string::npos) << e;
  EXPECT_NE(e.find("step_5"), std::string::npos) << e;
  EXPECT_NE(e.find("step 5"), std::string::npos) << e;
  e = test::bad_input_message([&] { io::resolve_series({(dir / "nothing-*").string()}); });
  EXPECT_NE(e.find("nothing-*"), std::string::npos) << e;
  e = test::bad_input_message([&] { io::resolve_series({(dir / "missing").string()}); });
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
  e = test::bad_input_message([&] {
    io::resolve_series({(dir / "checkpoint-5").string(), (dir / "checkpoint-5/").string()});
  });
  EXPECT_NE(e.find("same checkpoint"), std::string::npos) << e;
  std::ofstream(dir / "checkpoint-5" / "trainer_state.json") << "{\"epoch\": 1}";
  e = test::bad_input_message([&] { io::resolve_series({(dir / "checkpoint-5").string()}); });
  EXPECT_NE(e.find("trainer_state.json"), std::string::npos) << e;
  EXPECT_NE(e.find("global_step"), std::string::npos) << e;
}

TEST(SeriesCompatible, MismatchNamesBothCheckpointsAndTheDifference) {
  test::TempDir dir("series-compat");
  auto a = io::open_checkpoint(tiny_checkpoint(dir / "a"));
  auto b = io::open_checkpoint(tiny_checkpoint(dir / "b"));
  auto c = io::open_checkpoint(tiny_checkpoint(dir / "c", {}, 6));
  EXPECT_NO_THROW(io::check_series_compatible({&a->info(), &b->info()}, {"A", "B"}));
  const std::string e = test::bad_input_message([&] {
    io::check_series_compatible({&a->info(), &b->info(), &c->info()}, {"A", "B", "C"});
  });
  EXPECT_NE(e.find("A and C"), std::string::npos) << e;
  EXPECT_NE(e.find("experts 4 vs 6"), std::string::npos) << e;
}

TEST(SeriesCache, RoundTripsExactlyAndMissesWhenFilesOrSettingsChange) {
  test::TempDir dir("series-cache");
  test::PlantedSeriesSpec spec;
  test::write_planted_series_checkpoint(dir / "ckpt", spec);
  auto model = io::open_checkpoint(dir / "ckpt");
  SeriesOptions o;
  o.align.spectral.method = SpectralMethod::Exact;
  const auto points = measure_series_point(*model, o);
  // A NaN (undefined value) survives the cache as NaN.
  auto with_nan = points;
  with_nan[0].cos[1] = std::nan("");
  const io::SeriesCacheSettings settings{"gate", "exact", 1e-6, {0, 1}};
  const std::string key = io::series_cache_key(*model, settings);
  io::write_series_cache(dir / "cache", key, "ckpt", with_nan);
  const auto back = io::read_series_cache(dir / "cache", key);
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), with_nan.size());
  for (std::size_t l = 0; l < back->size(); ++l) {
    EXPECT_EQ((*back)[l].layer, with_nan[l].layer);
    for (auto f : {&SeriesLayerPoint::cos, &SeriesLayerPoint::lambda, &SeriesLayerPoint::sigma1,
                   &SeriesLayerPoint::sigma_ratio, &SeriesLayerPoint::router_norm,
                   &SeriesLayerPoint::weight_norm}) {
      const auto &x = (*back)[l].*f, &y = with_nan[l].*f;
      ASSERT_EQ(x.size(), y.size());
      for (std::size_t i = 0; i < x.size(); ++i)
        if (std::isnan(y[i]))
          EXPECT_TRUE(std::isnan(x[i]));
        else
          EXPECT_EQ(x[i], y[i]); // bit for bit
    }
  }
  // Other settings, or a weight file rewritten: another key, no entry.
  auto other = settings;
  other.matrix = "up";
  EXPECT_NE(io::series_cache_key(*model, other), key);
  EXPECT_FALSE(io::read_series_cache(dir / "cache", io::series_cache_key(*model, other)));
  const fs::path weights = dir / "ckpt" / "model.safetensors";
  fs::last_write_time(weights, fs::last_write_time(weights) + std::chrono::seconds(3));
  auto reopened = io::open_checkpoint(dir / "ckpt");
  EXPECT_NE(io::series_cache_key(*reopened, settings), key);
  // A damaged entry is ignored.
  std::ofstream(io::series_cache_file(dir / "cache", key)) << "{not json";
  EXPECT_FALSE(io::read_series_cache(dir / "cache", key));
}

TEST(SeriesRecord, WritesReadsAndDrawsEveryFigure) {
  test::TempDir dir("series-record");
  const fs::path path = dir / "series.h5";
  const int C = 3, N = 4;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::vector<SeriesLayerPoint>> written;
  {
    io::RunRecordWriter w(path, "series", "{\"command\": \"series\"}", {"a", "mixtral", {}});
    for (int l : {1, 3})
      io::declare_series_layer(w, l, N, true);
    w.start_live();
    for (int c = 0; c < C; ++c) {
      std::vector<SeriesLayerPoint> layers;
      for (int l : {1, 3}) {
        SeriesLayerPoint p;
        p.layer = l;
        for (auto f : {&SeriesLayerPoint::cos, &SeriesLayerPoint::lambda, &SeriesLayerPoint::sigma1,
                       &SeriesLayerPoint::sigma_ratio, &SeriesLayerPoint::router_norm,
                       &SeriesLayerPoint::weight_norm, &SeriesLayerPoint::load})
          for (int e = 0; e < N; ++e)
            (p.*f).push_back(u(rng));
        p.has_load = true;
        p.maxvio = u(rng);
        p.cv = u(rng);
        p.entropy = u(rng);
        layers.push_back(p);
      }
      io::add_series_point(w, 100 * (c + 1) * (c + 1), layers);
      written.push_back(layers);
    }
    w.close();
  }
  const RunRecord rec = io::read_run_record(path);
  EXPECT_EQ(rec.kind, "series");
  const io::SeriesData d = io::series_data(rec, "test");
  ASSERT_EQ(d.steps.size(), std::size_t(C));
  for (int c = 0; c < C; ++c)
    EXPECT_EQ(d.steps[std::size_t(c)], 100 * (c + 1) * (c + 1));
  ASSERT_EQ(d.layers.size(), 2u);
  for (std::size_t li = 0; li < 2; ++li) {
    const auto& L = d.layers[li];
    EXPECT_EQ(L.layer, li == 0 ? 1 : 3);
    for (int c = 0; c < C; ++c) {
      const SeriesLayerPoint& p = written[std::size_t(c)][li];
      for (int e = 0; e < N; ++e) {
        EXPECT_EQ(L.at("lambda")(c, e), p.lambda[std::size_t(e)]);
        EXPECT_EQ(L.at("cos")(c, e), p.cos[std::size_t(e)]);
        EXPECT_EQ(L.at("sigma_ratio")(c, e), p.sigma_ratio[std::size_t(e)]);
        EXPECT_EQ(L.at("weight_norm")(c, e), p.weight_norm[std::size_t(e)]);
        EXPECT_EQ(L.at("load")(c, e), p.load[std::size_t(e)]);
      }
      EXPECT_EQ(L.at("maxvio")(c, 0), p.maxvio);
      EXPECT_EQ(L.at("entropy")(c, 0), p.entropy);
    }
  }
  const auto names = io::series_figure_names(rec);
  EXPECT_EQ(names, (std::vector<std::string>{"series-alignment", "series-norms", "series-load"}));
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const Figure all = io::series_figure(rec, name);
    EXPECT_EQ(all.panels.size(), 4u); // two panels per layer
    const Figure one = io::series_figure(rec, name, 3);
    ASSERT_EQ(one.panels.size(), 2u);
    EXPECT_NE(one.panels[0].title.find("layer 3"), std::string::npos);
  }
  // The alignment band spans min–max over experts and the line is their mean.
  const Figure f = io::series_figure(rec, "series-alignment", 1);
  const MatrixD& lam = d.layers[0].at("lambda");
  ASSERT_EQ(f.panels[0].bands.size(), 1u);
  for (int c = 0; c < C; ++c) {
    EXPECT_DOUBLE_EQ(f.panels[0].bands[0].lower[std::size_t(c)], lam.row(c).minCoeff());
    EXPECT_DOUBLE_EQ(f.panels[0].bands[0].upper[std::size_t(c)], lam.row(c).maxCoeff());
    EXPECT_DOUBLE_EQ(f.panels[0].lines[0].y[std::size_t(c)], lam.row(c).mean());
    EXPECT_EQ(f.panels[0].lines[0].x[std::size_t(c)], d.steps[std::size_t(c)]);
  }
  std::string e = test::bad_input_message([&] { io::series_figure(rec, "series-alignment", 2); });
  EXPECT_NE(e.find("layer 2"), std::string::npos) << e;
}

// The record the GUI builds in memory for a series it is still measuring is the record the file
// reads back as: the same datasets to the bit, so the same figures.
TEST(SeriesRecord, InMemoryRecordIsTheRecordTheFileReadsBackAs) {
  test::TempDir dir("series-memory");
  const fs::path path = dir / "series.h5";
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.0, 2.0);
  std::vector<std::vector<SeriesLayerPoint>> points;
  std::vector<std::int64_t> steps;
  const std::string config = "{\"command\": \"series\"}";
  const RecordIdentity identity{"ckpt", "mixtral", {{"model.safetensors", 12}}};
  io::RunRecordWriter w(path, "series", config, identity);
  for (int l : {2, 0})
    io::declare_series_layer(w, l, 3, true);
  w.start_live();
  EXPECT_TRUE(io::series_record({}, {}, config, identity).layers.empty());
  for (int c = 0; c < 4; ++c) {
    std::vector<SeriesLayerPoint> layers;
    for (int l : {2, 0}) { // not in layer order: both sort by layer
      SeriesLayerPoint p;
      p.layer = l;
      for (auto f : {&SeriesLayerPoint::cos, &SeriesLayerPoint::lambda, &SeriesLayerPoint::sigma1,
                     &SeriesLayerPoint::sigma_ratio, &SeriesLayerPoint::router_norm,
                     &SeriesLayerPoint::weight_norm, &SeriesLayerPoint::load})
        for (int e = 0; e < 3; ++e)
          (p.*f).push_back(c == 1 && e == 2 ? std::nan("") : u(rng));
      p.has_load = true;
      p.maxvio = u(rng);
      p.cv = u(rng);
      p.entropy = u(rng);
      layers.push_back(p);
    }
    steps.push_back(7 * c + 3);
    points.push_back(layers);
    io::add_series_point(w, steps.back(), layers);
  }
  w.close();
  const RunRecord file = io::read_run_record(path);
  const RunRecord memory = io::series_record(steps, points, config, identity);
  EXPECT_EQ(memory.kind, file.kind);
  EXPECT_EQ(memory.config, file.config);
  EXPECT_EQ(memory.identity.path, file.identity.path);
  EXPECT_TRUE(memory.steps == file.steps);
  ASSERT_EQ(memory.layers.size(), file.layers.size());
  for (std::size_t l = 0; l < file.layers.size(); ++l) {
    EXPECT_EQ(memory.layers[l].layer, file.layers[l].layer);
    ASSERT_EQ(memory.layers[l].series.size(), file.layers[l].series.size());
    for (const auto& [name, m] : file.layers[l].series) {
      ASSERT_TRUE(memory.layers[l].series.count(name)) << name;
      const MatrixD& got = memory.layers[l].series.at(name);
      ASSERT_EQ(got.rows(), m.rows()) << name;
      ASSERT_EQ(got.cols(), m.cols()) << name;
      for (Eigen::Index i = 0; i < m.size(); ++i) // NaN equals NaN here
        EXPECT_TRUE(got.data()[i] == m.data()[i] ||
                    (std::isnan(got.data()[i]) && std::isnan(m.data()[i])))
            << name;
    }
  }
  for (const auto& name : io::series_figure_names(file))
    EXPECT_EQ(io::figure_csv(io::series_figure(memory, name)),
              io::figure_csv(io::series_figure(file, name)))
        << name;
}

// io::SeriesRun, the loop `series` and the GUI drive: one checkpoint per step, in step order, with
// progress labelled by checkpoint; a cancel stops it with the finished checkpoints recorded.
TEST(SeriesRun, StepsOneCheckpointAtATimeAndACancelKeepsTheFinishedOnes) {
  test::TempDir dir("series-run");
  std::vector<std::string> paths;
  for (int step : {20, 10, 30}) {
    test::PlantedSeriesSpec spec;
    spec.angle_scale = 1.0 / step;
    test::write_planted_series_checkpoint(dir / ("checkpoint-" + std::to_string(step)), spec);
    paths.push_back((dir / ("checkpoint-" + std::to_string(step))).string());
  }
  io::SeriesPlan plan;
  plan.align.spectral.method = SpectralMethod::Exact;
  plan.align.layers = {1};
  io::SeriesRun run(paths, plan);
  ASSERT_EQ(run.checkpoints().size(), 3u);
  EXPECT_EQ(run.checkpoints().front().step, 10); // ordered by step
  const fs::path rec = dir / "s.h5";
  run.record_to(rec, {{"source", "test"}});
  std::vector<std::string> labels;
  std::atomic<bool> cancel{false};
  const Progress progress{[&](double, const std::string& l) { labels.push_back(l); }, &cancel};
  const io::SeriesPointResult& first = run.step(progress);
  EXPECT_EQ(first.checkpoint.step, 10);
  ASSERT_EQ(first.layers.size(), 1u);
  EXPECT_EQ(first.layers[0].layer, 1);
  EXPECT_FALSE(first.cached);
  ASSERT_FALSE(labels.empty());
  EXPECT_EQ(labels.back().rfind("checkpoint 1/3 (step 10)", 0), 0u) << labels.back();
  cancel = true;
  try {
    run.step(progress);
    ADD_FAILURE() << "a cancelled step went on";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
  }
  EXPECT_FALSE(run.done());
  EXPECT_EQ(run.points().size(), 1u);
  run.close_record();
  const auto d = io::series_data(io::read_run_record(rec), "closed");
  EXPECT_EQ(d.steps, std::vector<double>{10});
  const auto config = nlohmann::json::parse(io::read_run_record(rec).config);
  EXPECT_EQ(config["source"], "test");
  EXPECT_EQ(config["method"], "exact");
  EXPECT_EQ(config["layers"], nlohmann::json::array({1}));
  // A layer that is not an MoE layer is BadInput before any work.
  plan.align.layers = {5};
  const std::string e = test::bad_input_message([&] { io::SeriesRun bad(paths, plan); });
  EXPECT_NE(e.find("5"), std::string::npos) << e;
}

} // namespace
} // namespace routerscope
