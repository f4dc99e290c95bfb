#include "io/figure_export.h"
#include "io/pretrain_figures.h"
#include "io/pretrain_record.h"
#include "io/record_figures.h"
#include "tests/io/io_test_helpers.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace routerscope {
namespace {

constexpr int kExperts = 4, kLayers = 2;

// Synthetic stats whose every value encodes where it belongs (variant, step, layer, expert).
io::PretrainStepRow row(const std::string& name, int v, int step) {
  io::PretrainStepRow r;
  r.variant = name;
  r.step = step;
  r.loss = 5.0 - 0.1 * step + v;
  r.lm_loss = r.loss - 0.01;
  r.lb_loss = 0.01;
  r.grad_norm = 1.0 + step;
  r.lr = 1e-3 * step;
  r.tokens_per_s = 1000.0 + step;
  for (int l = 0; l < kLayers; ++l) {
    io::PretrainLayerRow L;
    const double base = 1000 * v + 100 * l + step;
    L.load = VectorD::LinSpaced(kExperts, base, base + kExperts - 1);
    L.maxvio_batch = 0.5 * base;
    L.router_norm = VectorD::Constant(kExperts, base + 0.25);
    L.raw_norm = VectorD::Constant(kExperts, base + 0.5);
    L.sigma1 = VectorD::Constant(kExperts, base + 0.75);
    if (step % 3 == 0) {
      L.cos = VectorD::Constant(kExperts, 0.01 * base);
      L.lambda = VectorD::Constant(kExperts, 0.02 * base);
    }
    if (step % 2 == 0)
      L.maxvio_global = 0.125 * base;
    r.layers.push_back(L);
  }
  if (step % 2 == 0)
    r.val_bpb = 8.0 - 0.5 * step;
  return r;
}

void write_run(const std::filesystem::path& path, int steps) {
  io::RunRecordWriter w(path, "pretraining", R"({"variants":["vanilla","mpi"]})",
                        {"corpus.txt", "mixtral", {{"corpus.txt", 99}}});
  io::declare_pretrain_variant(w, "vanilla", kLayers, kExperts);
  io::declare_pretrain_variant(w, "mpi", kLayers, kExperts);
  for (int s = 0; s < steps; ++s) {
    io::add_pretrain_step(w, row("vanilla", 0, s));
    io::add_pretrain_step(w, row("mpi", 1, s));
  }
}

TEST(PretrainRecord, RoundTripKeepsEverySeriesInConfigOrder) {
  test::TempDir dir("pre");
  write_run(dir / "run.h5", 5);
  const auto series = io::pretrain_series(io::read_run_record(dir / "run.h5"), "run.h5");
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].name, "vanilla"); // config order, not name order
  for (int v = 0; v < 2; ++v) {
    const auto& s = series[std::size_t(v)];
    ASSERT_EQ(s.steps(), 5);
    ASSERT_EQ(s.layers.size(), std::size_t(kLayers));
    ASSERT_EQ(s.val_step.size(), 3);
    ASSERT_EQ(s.align_step.size(), 2);
    EXPECT_DOUBLE_EQ(s.align_step(1), 3.0);
    for (int step = 0; step < 5; ++step) {
      const auto expect = row(s.name, v, step);
      EXPECT_DOUBLE_EQ(s.scalars.at("loss")(step), expect.loss);
      EXPECT_DOUBLE_EQ(s.scalars.at("tokens_per_s")(step), expect.tokens_per_s);
      for (int l = 0; l < kLayers; ++l) {
        const auto& L = s.layers[std::size_t(l)];
        EXPECT_EQ(VectorD(L.at("load").row(step)), expect.layers[std::size_t(l)].load);
        EXPECT_EQ(VectorD(L.at("sigma1").row(step)), expect.layers[std::size_t(l)].sigma1);
        EXPECT_DOUBLE_EQ(L.at("maxvio_batch")(step, 0), expect.layers[std::size_t(l)].maxvio_batch);
      }
    }
    for (int i = 0; i < 3; ++i) {
      const auto expect = row(s.name, v, 2 * i);
      EXPECT_DOUBLE_EQ(s.val_bpb(i), *expect.val_bpb);
      EXPECT_DOUBLE_EQ(s.layers[1].at("maxvio_global")(i, 0), *expect.layers[1].maxvio_global);
    }
    EXPECT_EQ(VectorD(s.layers[0].at("lambda").row(1)), row(s.name, v, 3).layers[0].lambda);
  }
}

// The GUI draws a running pretraining from pretrain_record (in memory); every figure of it must
// equal the figure of the file the same rows were written to, as `plot` draws it.
TEST(PretrainRecord, InMemoryRecordDrawsTheSameFiguresAsTheFile) {
  test::TempDir dir("premem");
  write_run(dir / "run.h5", 7);
  const RunRecord file = io::read_run_record(dir / "run.h5");
  std::vector<io::PretrainStepRow> rows;
  for (int s = 0; s < 7; ++s) {
    rows.push_back(row("vanilla", 0, s));
    rows.push_back(row("mpi", 1, s));
  }
  const RunRecord mem = io::pretrain_record(rows, file.config, file.identity);
  ASSERT_EQ(mem.variants.size(), file.variants.size());
  for (std::size_t v = 0; v < mem.variants.size(); ++v) {
    EXPECT_EQ(mem.variants[v].name, file.variants[v].name);
    ASSERT_EQ(mem.variants[v].scalars.size(), file.variants[v].scalars.size());
    for (const auto& [key, values] : file.variants[v].scalars)
      EXPECT_EQ(mem.variants[v].scalars.at(key), values) << key;
    for (const auto& [layer, datasets] : file.variants[v].layers)
      for (const auto& [key, m] : datasets)
        EXPECT_EQ(mem.variants[v].layers.at(layer).at(key), m) << layer << " " << key;
  }
  for (const std::string& name : io::pretrain_figure_names())
    for (std::optional<int> layer : {std::optional<int>(), std::optional<int>(1)}) {
      io::export_figure_csv(io::record_figure(file, name, layer), dir / "file.csv");
      io::export_figure_csv(io::record_figure(mem, name, layer), dir / "mem.csv");
      EXPECT_EQ(test::read_text(dir / "mem.csv"), test::read_text(dir / "file.csv")) << name;
    }
}

TEST(PretrainRecord, H5pyReadsTheDocumentedPaths) {
  test::TempDir dir("h5py");
  write_run(dir / "run.h5", 4);
  // Oracle: h5py, reading the paths docs/FORMATS.md names.
  std::ofstream(dir / "read.py") << R"(import sys, h5py
f = h5py.File(sys.argv[1], "r")
v = f["variants/mpi"]
kind = f.attrs["kind"]  # a fixed-length string attribute: h5py gives bytes
print(kind.decode() if isinstance(kind, bytes) else kind, v["loss"].shape, v["layers/1/load"].shape, v["layers/1/maxvio_batch"].shape,
      v["val_bpb"].shape, v["val_step"][:].tolist(), v["align_step"][:].tolist(),
      v["layers/0/cos"].shape, v["layers/0/maxvio_global"].shape, v["layers/1/raw_norm"][2, 0])
)";
  const auto r = test::run_shell("/usr/bin/python3 " + (dir / "read.py").string() + " " +
                                 (dir / "run.h5").string() + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // variant 1, layer 1, step 2: base = 1000 + 100 + 2, raw_norm = base + 0.5.
  EXPECT_EQ(r.out, "pretraining (4,) (4, 4) (4,) (2,) [0.0, 2.0] [0.0, 3.0] (2, 4) (2,) 1102.5\n");
}

TEST(PretrainRecord, ReaderKeepsOnlyCompleteStepsAndSamples) {
  test::TempDir dir("partial");
  {
    io::RunRecordWriter w(dir / "run.h5", "pretraining", R"({"variants":["mpi"]})", {});
    for (int s = 0; s < 3; ++s)
      io::add_pretrain_step(w, row("mpi", 0, s));
    // A writer killed inside step 3 after some datasets: its loss and an evaluation of step 4.
    w.append_value("variants/mpi/loss", 1.0);
    w.append_value("variants/mpi/layers/0/maxvio_global", 0.1);
    w.append_value("variants/mpi/layers/1/maxvio_global", 0.1);
    w.append_value("variants/mpi/val_bpb", 1.0);
    w.append_value("variants/mpi/val_step", 4.0);
  }
  const auto s = io::pretrain_series(io::read_run_record(dir / "run.h5"), "run.h5")[0];
  EXPECT_EQ(s.steps(), 3);
  EXPECT_EQ(s.layers[0].at("load").rows(), 3);
  EXPECT_EQ(s.val_step.size(), 2); // steps 0 and 2; the sample of step 4 is past the end
  EXPECT_EQ(s.layers[1].at("maxvio_global").rows(), 2);
}

TEST(PretrainRecord, RejectsOtherRecordsNamingThem) {
  test::TempDir dir("other");
  {
    io::RunRecordWriter w(dir / "t.h5", "training", "{}", {});
    w.append_value("variants/mpi/loss", 1.0);
  }
  io::test_helpers::expect_bad_input(
      [&] { io::pretrain_series(io::read_run_record(dir / "t.h5"), "t.h5"); },
      {"t.h5", "pretraining", "training"});
  {
    io::RunRecordWriter w(dir / "p.h5", "pretraining", "{}", {});
    w.append_value("variants/mpi/loss", 1.0);
  }
  io::test_helpers::expect_bad_input(
      [&] { io::pretrain_series(io::read_run_record(dir / "p.h5"), "p.h5"); },
      {"p.h5", "variants/mpi/step", "missing"});
}

// The figures draw exactly the record's values: every curve recomputed here in float64 from the
// synthetic stats, not from the reader.
TEST(PretrainFigures, DrawTheRecordedSeries) {
  test::TempDir dir("fig");
  write_run(dir / "run.h5", 5);
  const RunRecord rec = io::read_run_record(dir / "run.h5");
  EXPECT_EQ(io::record_figure_names(rec), io::pretrain_figure_names());

  const Figure f = io::record_figure(rec, "pretraining");
  ASSERT_EQ(f.panels.size(), 3u);
  for (int v = 0; v < 2; ++v) {
    const std::string name = v ? "mpi" : "vanilla";
    const auto& bpb = f.panels[0].lines[std::size_t(v)];
    const auto& maxvio = f.panels[1].lines[std::size_t(v)];
    const auto& lambda = f.panels[2].lines[std::size_t(v)];
    EXPECT_EQ(bpb.name, name);
    ASSERT_EQ(bpb.x, (std::vector<double>{0, 2, 4}));
    ASSERT_EQ(lambda.x, (std::vector<double>{0, 3}));
    for (int i = 0; i < 3; ++i) {
      const int step = 2 * i;
      EXPECT_DOUBLE_EQ(bpb.y[std::size_t(i)], 8.0 - 0.5 * step);
      const double mean = (0.125 * (1000 * v + step) + 0.125 * (1000 * v + 100 + step)) / 2;
      EXPECT_NEAR(maxvio.y[std::size_t(i)], mean, 1e-12);
    }
    for (int i = 0; i < 2; ++i) {
      const int step = 3 * i;
      const double mean = (0.02 * (1000 * v + step) + 0.02 * (1000 * v + 100 + step)) / 2;
      EXPECT_NEAR(lambda.y[std::size_t(i)], mean, 1e-12);
    }
  }

  const Figure load = io::record_figure(rec, "pretraining-load", 1);
  ASSERT_EQ(load.panels.size(), 2u); // layer 1 × {vanilla, mpi}
  EXPECT_EQ(load.panels[1].title, "mpi, layer 1");
  const Heatmap& h = *load.panels[1].heatmap;
  ASSERT_EQ(h.rows, kExperts);
  ASSERT_EQ(h.cols, 5);
  for (int e = 0; e < kExperts; ++e)
    for (int t = 0; t < 5; ++t) {
      const double base = 1000 + 100 + t; // mpi is variant 1
      const double total = kExperts * base + kExperts * (kExperts - 1) / 2.0;
      EXPECT_NEAR(h.value(e, t), (base + e) / total, 1e-12);
    }

  const Figure align = io::record_figure(rec, "pretraining-alignment");
  ASSERT_EQ(align.panels.size(), std::size_t(kLayers));
  EXPECT_NEAR(align.panels[1].lines[0].y[1], 0.02 * (100 + 3), 1e-12);

  // Router norms: every step, the mean over experts of ‖R′ᵢ‖ (written as base + 0.25).
  const Figure norms = io::record_figure(rec, "pretraining-norms", 1);
  ASSERT_EQ(norms.panels.size(), 1u);
  for (int v = 0; v < 2; ++v) {
    const auto& line = norms.panels[0].lines[std::size_t(v)];
    ASSERT_EQ(line.x, (std::vector<double>{0, 1, 2, 3, 4}));
    for (int t = 0; t < 5; ++t)
      EXPECT_NEAR(line.y[std::size_t(t)], 1000 * v + 100 + t + 0.25, 1e-12);
  }

  io::test_helpers::expect_bad_input([&] { io::record_figure(rec, "pretraining", 7); },
                                     {"layer 7", "0-1"});
  io::test_helpers::expect_bad_input([&] { io::record_figure(rec, "training"); },
                                     {"pretraining-load"});
}

} // namespace
} // namespace routerscope
