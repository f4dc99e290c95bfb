// `routerscope series` end to end (issue 16): checkpoints whose routers approach their experts'
// planted principal directions by known angles, given in shuffled order; every recorded value
// against the closed form of the construction and a float64 NumPy oracle
// (tests/app/series_oracle.py, loads as route's oracle routes), the step order from
// trainer_state.json and names, the cache, the mismatch error, the figures, and pretrain
// --save-every making a series.
#include "io/run_record.h"
#include "io/series.h"
#include "tests/support/series_checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

const fs::path kAppTests = fs::path(ROUTERSCOPE_SOURCE_DIR) / "tests/app";

nlohmann::json python_json(const std::string& command) {
  auto r = test::run_shell("/usr/bin/python3 " + command + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return nlohmann::json::parse(r.out, nullptr, false);
}

struct Planted {
  std::string name;
  std::optional<int> trainer_step;
  int step; // the step the series must give it
  double angle_scale, weight_scale;
};

class SeriesCommand : public ::testing::Test {
protected:
  void SetUp() override {
    for (const Planted& p : planted_) {
      test::PlantedSeriesSpec spec;
      spec.angle_scale = p.angle_scale;
      spec.weight_scale = p.weight_scale;
      expected_[p.step] = test::write_planted_series_checkpoint(dir_ / p.name, spec).expected;
      if (p.trainer_step)
        std::ofstream(dir_ / p.name / "trainer_state.json")
            << "{\"global_step\": " << *p.trainer_step << ", \"best_metric\": null}";
      args_.push_back((dir_ / p.name).string());
    }
    auto r = test::run_shell("/usr/bin/python3 " + (kAppTests / "route_oracle.py").string() +
                             " tokens " + tokens_.string() + " 64 16 5 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  test::CommandResult series(std::vector<std::string> extra) {
    std::vector<std::string> a = {"series"};
    a.insert(a.end(), args_.begin(), args_.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return test::run_routerscope(a);
  }

  // Given in shuffled order; "run-b" has no number in its name and takes trainer_state.json's.
  const std::vector<Planted> planted_ = {{"checkpoint-300", std::nullopt, 300, 0.6, 1.1},
                                         {"run-b", 900, 900, 0.1, 1.3},
                                         {"checkpoint-50", std::nullopt, 50, 1.0, 1.0},
                                         {"checkpoint-600", std::nullopt, 600, 0.3, 1.2}};
  test::TempDir dir_{"series-cli"};
  fs::path tokens_ = dir_ / "tokens.h5";
  std::vector<std::string> args_;
  std::map<int, std::vector<std::vector<test::PlantedExpertValues>>> expected_;
};

TEST_F(SeriesCommand, RecordMatchesPlantedClosedFormAndNumpyOracle) {
  const fs::path rec = dir_ / "series.h5";
  auto r = series(
      {"--method", "exact", "--tokens", tokens_.string(), "--record", rec.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["checkpoints"].size(), planted_.size());
  std::vector<int> steps;
  for (const auto& c : j["checkpoints"]) {
    steps.push_back(c["step"].get<int>());
    EXPECT_FALSE(c["cached"].get<bool>());
    EXPECT_EQ(c["step_source"],
              c["argument"].get<std::string>().ends_with("run-b") ? "trainer_state.json" : "name");
  }
  EXPECT_EQ(steps, (std::vector<int>{50, 300, 600, 900}));

  const RunRecord record = io::read_run_record(rec);
  const io::SeriesData d = io::series_data(record, rec.string());
  ASSERT_EQ(d.steps.size(), 4u);
  ASSERT_EQ(d.layers.size(), 2u);
  int checked = 0;
  for (std::size_t c = 0; c < d.steps.size(); ++c) {
    EXPECT_EQ(d.steps[c], steps[c]);
    const auto& want = expected_.at(steps[c]);
    for (const auto& L : d.layers) {
      for (std::size_t e = 0; e < want[std::size_t(L.layer)].size(); ++e) {
        const test::PlantedExpertValues& w = want[std::size_t(L.layer)][e];
        const auto row = Eigen::Index(c), col = Eigen::Index(e);
        SCOPED_TRACE("step " + std::to_string(steps[c]) + " layer " + std::to_string(L.layer) +
                     " expert " + std::to_string(e));
        EXPECT_NEAR(L.at("cos")(row, col), w.cos, 2e-6);
        EXPECT_NEAR(L.at("lambda")(row, col), w.lambda, 2e-6);
        EXPECT_NEAR(L.at("sigma1")(row, col), w.sigma1, 2e-6 * w.sigma1);
        EXPECT_NEAR(L.at("sigma_ratio")(row, col), w.ratio, 2e-6);
        EXPECT_NEAR(L.at("router_norm")(row, col), w.router_norm, 2e-6 * w.router_norm);
        EXPECT_NEAR(L.at("weight_norm")(row, col), w.weight_norm, 2e-6 * w.weight_norm);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 4 * 2 * 4);
  // Routers approach u₁ over the run: the mean λ of every layer grows from checkpoint to
  // checkpoint.
  for (const auto& L : d.layers)
    for (Eigen::Index c = 1; c < 4; ++c)
      EXPECT_GT(L.at("lambda").row(c).mean(), L.at("lambda").row(c - 1).mean());

  // NumPy: SVD of every w1 as stored, and the load of the tokens as route's oracle routes them.
  // Appended piecewise: GCC 12 warns spuriously (-Wrestrict) on " " + string.
  std::string cmd = (kAppTests / "series_oracle.py").string();
  std::vector<std::string> words = {rec.string(), tokens_.string(), "2"};
  for (int s : steps)
    for (const Planted& p : planted_)
      if (p.step == s)
        words.push_back((dir_ / p.name).string());
  for (const auto& w : words) {
    cmd += ' ';
    cmd += w;
  }
  const auto oracle = python_json(cmd);
  ASSERT_TRUE(oracle.is_object());
  EXPECT_EQ(oracle["compared"], 8);
  EXPECT_TRUE(oracle["load_equal"].get<bool>());
  for (const char* q : {"cos", "lambda", "sigma1", "sigma_ratio", "router_norm", "weight_norm",
                        "maxvio", "cv", "entropy"}) {
    ASSERT_TRUE(oracle["errors"].contains(q)) << q;
    EXPECT_LT(oracle["errors"][q].get<double>(), 2e-6) << q;
  }
  // The JSON output carries the same numbers as the record.
  const auto& l0 = j["checkpoints"][2]["layers"][1];
  for (int e = 0; e < 4; ++e)
    EXPECT_EQ(l0["lambda"][std::size_t(e)].get<double>(), d.layers[1].at("lambda")(2, e));
  EXPECT_EQ(l0["maxvio"].get<double>(), d.layers[1].at("maxvio")(2, 0));
}

TEST_F(SeriesCommand, SecondRunReadsTheCacheAndAddingACheckpointCostsOne) {
  const fs::path rec = dir_ / "s.h5", rec2 = dir_ / "s2.h5";
  auto first = series({"--record", rec.string(), "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const fs::path cache = dir_ / "s.h5.cache";
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(cache))
    files += e.path().extension() == ".json";
  EXPECT_EQ(files, planted_.size());

  auto second = series({"--record", rec2.string(), "--cache", cache.string(), "--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const auto second_json = nlohmann::json::parse(second.out); // kept alive for the loop
  ASSERT_EQ(second_json["checkpoints"].size(), planted_.size());
  for (const auto& c : second_json["checkpoints"])
    EXPECT_TRUE(c["cached"].get<bool>()) << c["argument"];
  const auto a = io::series_data(io::read_run_record(rec), "first");
  const auto b = io::series_data(io::read_run_record(rec2), "second");
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t l = 0; l < a.layers.size(); ++l)
    for (const auto& [name, m] : a.layers[l].series)
      EXPECT_TRUE(m == b.layers[l].at(name)) << name; // identical to the bit

  // The numbers do come from the cache: an entry edited by hand shows in the next record.
  fs::path entry;
  for (const auto& e : fs::directory_iterator(cache)) {
    std::ifstream in(e.path());
    const auto j = nlohmann::json::parse(in);
    if (j["checkpoint"].get<std::string>().ends_with("checkpoint-300"))
      entry = e.path();
  }
  ASSERT_FALSE(entry.empty());
  nlohmann::json j;
  std::ifstream(entry) >> j;
  for (auto& v : j["layers"][0]["lambda"])
    v = 0.125;
  std::ofstream(entry) << j.dump();
  auto third = series({"--record", rec2.string(), "--cache", cache.string()});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  const auto t = io::series_data(io::read_run_record(rec2), "third");
  ASSERT_EQ(t.steps[1], 300);
  for (int e = 0; e < 4; ++e)
    EXPECT_EQ(t.layers[0].at("lambda")(1, e), 0.125);

  // One more checkpoint: only it is measured.
  test::PlantedSeriesSpec spec;
  spec.angle_scale = 0.05;
  test::write_planted_series_checkpoint(dir_ / "checkpoint-1200", spec);
  args_.push_back((dir_ / "checkpoint-1200").string());
  auto fourth = series({"--record", rec.string(), "--json"});
  ASSERT_EQ(fourth.exit_code, 0) << fourth.err;
  int measured = 0;
  const auto fourth_json = nlohmann::json::parse(fourth.out);
  ASSERT_EQ(fourth_json["checkpoints"].size(), planted_.size() + 1);
  for (const auto& c : fourth_json["checkpoints"])
    if (!c["cached"].get<bool>()) {
      ++measured;
      EXPECT_EQ(c["step"], 1200);
    }
  EXPECT_EQ(measured, 1);
}

TEST_F(SeriesCommand, MismatchIsExitTwoNamingBothCheckpoints) {
  test::PlantedSeriesSpec spec;
  spec.experts = 6;
  test::write_planted_series_checkpoint(dir_ / "checkpoint-700", spec);
  args_.push_back((dir_ / "checkpoint-700").string());
  auto r = series({"--record", (dir_ / "m.h5").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("checkpoint-50"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checkpoint-700"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("experts 4 vs 6"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "m.h5"));
  // Bad options are exit 2 naming them.
  r = series({"--matrix", "diagonal"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--matrix"), std::string::npos) << r.err;
  r = test::run_routerscope({"series", (dir_ / "nothing-*").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nothing-*"), std::string::npos) << r.err;
}

TEST_F(SeriesCommand, PlotDrawsTheSeriesFigures) {
  const fs::path rec = dir_ / "p.h5", plain = dir_ / "plain.h5";
  ASSERT_EQ(series({"--tokens", tokens_.string(), "--record", rec.string()}).exit_code, 0);
  for (const char* figure : {"series-alignment", "series-norms", "series-load"}) {
    const fs::path png = dir_ / (std::string(figure) + ".png");
    auto r =
        test::run_routerscope({"plot", rec.string(), "--figure", figure, "--out", png.string()});
    EXPECT_EQ(r.exit_code, 0) << figure << ": " << r.err;
    EXPECT_GT(fs::file_size(png), 1000u) << figure;
    // The CSV holds the drawn steps.
    EXPECT_NE(test::read_text(dir_ / (std::string(figure) + ".csv")).find("900"), std::string::npos)
        << figure;
  }
  ASSERT_EQ(series({"--record", plain.string()}).exit_code, 0);
  auto r = test::run_routerscope(
      {"plot", plain.string(), "--figure", "series-load", "--out", (dir_ / "x.png").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("series-alignment"), std::string::npos) << r.err;
}

TEST_F(SeriesCommand, ReportAddsTheFiguresOfASeriesRecord) {
  const fs::path rec = dir_ / "r.h5", out = dir_ / "report";
  ASSERT_EQ(series({"--tokens", tokens_.string(), "--record", rec.string()}).exit_code, 0);
  const std::string demo = (fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo").string();
  auto r = test::run_routerscope({"report", demo, "--out", out.string(), "--steps", "1",
                                  "--train-steps", "1", "--pretrain-steps", "0", "--dpi", "40",
                                  "--series-record", rec.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> names = j["figures"];
  for (const char* figure : {"series-alignment", "series-norms", "series-load"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), figure), names.end()) << figure;
    EXPECT_TRUE(fs::exists(out / "figures" / (std::string(figure) + ".pdf"))) << figure;
  }
  EXPECT_NE(test::read_text(out / "index.html").find("figures/series-alignment.png"),
            std::string::npos);
  // Another kind of record is exit 2 naming it, before any work.
  r = test::run_routerscope(
      {"report", demo, "--out", (dir_ / "no").string(), "--series-record", tokens_.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("tokens.h5"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "no"));
}

TEST(SeriesInterrupt, CtrlCIsExit130AndTheRecordKeepsTheFinishedCheckpoints) {
  test::TempDir dir("series-sigint");
  // 60 checkpoints: folders whose files link to the demo checkpoint (6 layers x 16 experts).
  const fs::path demo = fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo";
  for (int i = 1; i <= 60; ++i) {
    const fs::path c = dir / ("checkpoint-" + std::to_string(i));
    fs::create_directories(c);
    for (const char* f : {"model.safetensors", "config.json"})
      fs::create_symlink(demo / f, c / f);
  }
  const fs::path rec = dir / "s.h5", err = dir / "err";
  // Ctrl-C once the third checkpoint is being measured (its progress line is on stderr).
  const std::string script =
      "ROUTERSCOPE_PROGRESS_SECONDS=0 " + test::shell_quote(test::routerscope_exe().string()) +
      " series " + test::shell_quote((dir / "checkpoint-*").string()) +
      " --method exact --no-cache --device cpu --record " + test::shell_quote(rec.string()) +
      " 2>" + test::shell_quote(err.string()) +
      " >/dev/null & pid=$!; for i in $(seq 600); do grep -q 'checkpoint 3/60' " +
      test::shell_quote(err.string()) +
      " && break; sleep 0.05; done; kill -INT $pid; wait $pid; echo $?";
  const auto r = test::run_shell("bash -c " + test::shell_quote(script));
  EXPECT_EQ(r.out, "130\n") << test::read_text(err);
  EXPECT_NE(test::read_text(err).find("interrupted after"), std::string::npos)
      << test::read_text(err);
  const auto d = io::series_data(io::read_run_record(rec), rec.string());
  EXPECT_GE(d.steps.size(), 2u);
  EXPECT_LT(d.steps.size(), 60u);
  for (std::size_t c = 0; c < d.steps.size(); ++c)
    EXPECT_EQ(d.steps[c], double(c + 1));
  for (const auto& l : d.layers)
    EXPECT_EQ(l.at("lambda").rows(), Eigen::Index(d.steps.size()));
}

TEST(SeriesPretrain, SaveEveryWritesASeriesWithTrainerState) {
  test::TempDir dir("series-pretrain");
  std::ifstream in("/usr/share/games/fortunes/art", std::ios::binary);
  std::string text(20000, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  ASSERT_EQ(in.gcount(), std::streamsize(text.size())) << "the fortunes package is required";
  std::ofstream(dir / "corpus.txt", std::ios::binary) << text;
  const fs::path save = dir / "run";
  auto r = test::run_routerscope({"pretrain",
                                  "--corpus",
                                  (dir / "corpus.txt").string(),
                                  "--d-model",
                                  "16",
                                  "--layers",
                                  "2",
                                  "--heads",
                                  "2",
                                  "--experts",
                                  "4",
                                  "--top-k",
                                  "2",
                                  "--d-expert",
                                  "16",
                                  "--ctx",
                                  "16",
                                  "--batch",
                                  "4",
                                  "--steps",
                                  "6",
                                  "--save-every",
                                  "3",
                                  "--save",
                                  save.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int step : {3, 6})
    for (const char* v : {"vanilla", "mpi"}) {
      const fs::path state = save / ("step-" + std::to_string(step)) / v / "trainer_state.json";
      ASSERT_TRUE(fs::exists(state)) << state;
      EXPECT_EQ(nlohmann::json::parse(test::read_text(state))["global_step"], step);
    }
  EXPECT_EQ(
      nlohmann::json::parse(test::read_text(save / "mpi" / "trainer_state.json"))["global_step"],
      6);
  auto s = test::run_routerscope({"series", (save / "step-*" / "mpi").string(), "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const auto j = nlohmann::json::parse(s.out);
  ASSERT_EQ(j["checkpoints"].size(), 2u);
  EXPECT_EQ(j["checkpoints"][0]["step"], 3);
  EXPECT_EQ(j["checkpoints"][1]["step"], 6);
  EXPECT_EQ(j["checkpoints"][0]["step_source"], "trainer_state.json");
  // --save-every without --save is exit 2 naming both.
  r = test::run_routerscope(
      {"pretrain", "--corpus", (dir / "corpus.txt").string(), "--save-every", "2", "--steps", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--save"), std::string::npos) << r.err;
}

} // namespace
} // namespace routerscope
