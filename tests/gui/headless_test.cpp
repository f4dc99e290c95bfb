// GUI frames driven in-process (app/gui/headless.h): the same App the window shows, its actions
// called directly and its state read back, no display, GL or subprocess. The numbers are checked
// against the float64 MPI oracle (tests/support/mpi_oracle.h) on the demo checkpoint; the
// lifetime tests run under AddressSanitizer with LeakSanitizer in the sanitizer build.
#include "app/gui/headless.h"
#include "core/model.h"
#include "io/checkpoint.h"
#include "tests/support/mpi_oracle.h"
#include "tests/support/test_support.h"

#include <GLFW/glfw3.h>
#include <gtest/gtest.h>
#include <imgui.h>
#include <nlohmann/json.hpp>

#include <Eigen/SVD>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <set>
#include <thread>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

const fs::path kDemo = fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo";

gui::GuiOptions options() {
  gui::GuiOptions o;
  o.width = 1280;
  o.height = 800;
  o.device = "cpu";
  return o;
}

nlohmann::json state(gui::HeadlessGui& g) {
  return nlohmann::json::parse(g.app().state_json());
}

// Opens the demo and selects expert 0 of its first MoE layer; returns that layer.
int open_demo(gui::HeadlessGui& g) {
  EXPECT_TRUE(fs::exists(kDemo / "model.safetensors")) << kDemo << " is missing";
  g.app().open(kDemo.string());
  g.settle();
  const auto s = state(g);
  EXPECT_EQ(s.value("error", ""), "");
  const int layer = s.at("selected_layer").get<int>();
  EXPECT_GE(layer, 0);
  return layer;
}

// |cos(R′ᵢ, u₁ᵢ)| per expert after `steps` oracle MPI steps of the checkpoint's router.
std::vector<double> oracle_cos(int layer, int steps) {
  auto model = io::open_checkpoint(kDemo);
  MatrixD r = model->router(layer).cast<double>();
  const int experts = int(r.rows());
  std::vector<MatrixD> g;
  for (int e = 0; e < experts; ++e)
    g.push_back(direction_operator(*model, layer, e, ExpertMatrix::Gate).cast<double>());
  const MpiSettings settings; // the GUI's defaults: gate, C′ = 4, one power step
  for (int t = 0; t < steps; ++t)
    r = test::mpi_oracle(r, g, settings);
  std::vector<double> cos;
  for (int e = 0; e < experts; ++e) {
    Eigen::JacobiSVD<MatrixD> svd(g[size_t(e)], Eigen::ComputeThinV);
    const VectorD u1 = svd.matrixV().col(0);
    cos.push_back(std::abs(r.row(e).dot(u1)) / r.row(e).norm());
  }
  return cos;
}

double oracle_mean_cos(int layer, int steps) {
  const std::vector<double> cos = oracle_cos(layer, steps);
  return std::accumulate(cos.begin(), cos.end(), 0.0) / double(cos.size());
}

// The app keeps its recent files under XDG_CONFIG_HOME: a folder of the test's own.
class HeadlessFrames : public ::testing::Test {
protected:
  void SetUp() override { setenv("XDG_CONFIG_HOME", config_.path().c_str(), 1); }
  test::TempDir config_{"headless-config"};
};

// |cos| near 1 differs between steps only in 1 − |cos| (7 steps: 3e-9, 6 steps: 4e-8), so that is
// what is compared, to 2 % of the oracle's.
void expect_mean_cos(const nlohmann::json& s, int layer, int steps) {
  const double want = oracle_mean_cos(layer, steps);
  EXPECT_NEAR(1 - s.at("mean_cos").get<double>(), 1 - want, 0.02 * (1 - want))
      << "after " << steps << " steps";
}

TEST_F(HeadlessFrames, MpiStepsOnTheDemoMatchTheFloat64Oracle) {
  gui::HeadlessGui g(options());
  const int layer = open_demo(g);
  g.app().set_view(gui::View::Mpi);
  g.app().step(3);
  g.settle();
  g.app().step(4);
  g.settle();
  const auto s = state(g);
  ASSERT_EQ(s.at("steps_recorded").get<int>(), 1 + 3 + 4) << s.dump(2);
  ASSERT_EQ(s.at("step_index").get<int>(), 7);
  expect_mean_cos(s, layer, 7);
  // Each expert's |cos| at the cursor (the sidebar shows the selected one's).
  const std::vector<double> want = oracle_cos(layer, 7);
  const auto& got = s.at("step_cos");
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t e = 0; e < want.size(); ++e)
    EXPECT_NEAR(1 - got[e].get<double>(), 1 - want[e], 0.02 * (1 - want[e]) + 1e-12)
        << "expert " << e;
  // The sidebar's tan θ of the selected expert (0), as drawn: 4 significant digits of the oracle's.
  const double tan_want = std::sqrt(1 - want[0] * want[0]) / want[0];
  const double tan_shown = std::stod(s.at("shown_values").at("tan θ").get<std::string>());
  EXPECT_NEAR(tan_shown, tan_want, 0.02 * tan_want) << "shown " << tan_shown;
  // The frame drew the view: ImGui produced geometry for it.
  EXPECT_GT(g.draw_data().TotalVtxCount, 1000);
}

TEST_F(HeadlessFrames, TimelineKeysMoveTheCursorOverTheRecordedSteps) {
  gui::HeadlessGui g(options());
  const int layer = open_demo(g);
  g.app().set_view(gui::View::Mpi);
  g.app().step(5);
  g.settle();
  ASSERT_EQ(state(g).at("step_index").get<int>(), 5);
  expect_mean_cos(state(g), layer, 5);
  g.press(GLFW_KEY_LEFT);
  EXPECT_EQ(state(g).at("step_index").get<int>(), 4);
  expect_mean_cos(state(g), layer, 4);
  g.press(GLFW_KEY_HOME);
  EXPECT_EQ(state(g).at("step_index").get<int>(), 0);
  expect_mean_cos(state(g), layer, 0);
  g.press(GLFW_KEY_END);
  EXPECT_EQ(state(g).at("step_index").get<int>(), 5);
  g.press(GLFW_KEY_RIGHT); // at the end, → runs one more step
  g.settle();
  EXPECT_EQ(state(g).at("step_index").get<int>(), 6);
  expect_mean_cos(state(g), layer, 6);
}

// While playing, the step axis ends at the next 1-2-5 step ahead of the last (it does not rescale
// at every step); stopped, it fits the steps again, as `plot` draws them.
TEST_F(HeadlessFrames, PlayingKeepsTheStepAxisStillBetweenRoundSteps) {
  gui::HeadlessGui g(options());
  open_demo(g);
  g.app().set_view(gui::View::Mpi);
  g.app().step(1);
  g.settle();
  auto axis_end = [&](const nlohmann::json& s) {
    for (const auto& f : s.at("figure_text"))
      if (f.at("id") == "convergence")
        return f.at("x_axis")[1].get<double>();
    ADD_FAILURE() << "no convergence figure on screen";
    return -1.0;
  };
  const double round[] = {1, 2, 5, 10, 20, 50, 100};
  auto want = [&](int last) {
    for (double r : round)
      if (r >= last)
        return r;
    return -1.0;
  };
  g.app().set_playing(true);
  std::set<double> ends;
  int frames = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int last = 0;
       last < 25 && std::chrono::steady_clock::now() - start < std::chrono::seconds(60); ++frames) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    g.frame();
    const auto s = state(g);
    last = s.at("steps_recorded").get<int>() - 1;
    const double end = axis_end(s);
    EXPECT_EQ(end, want(std::max(last, 1))) << "last step " << last;
    ends.insert(end);
  }
  g.app().set_playing(false);
  g.settle();
  const auto s = state(g);
  EXPECT_EQ(axis_end(s), s.at("steps_recorded").get<int>() - 1); // fitted again
  // Steps 1..25 give at most 1, 2, 5, 10, 20 and 50 (rescaling at every step: about 25 ends).
  EXPECT_LE(ends.size(), 6u) << frames << " frames";
}

// Closing while router training runs: the panels' JobSlots cancel and join the job before its
// snapshot dies. Under ASan + LSan (the sanitizer build runs this test) a use after free or a
// leak fails it; here it must also return (ctest's timeout bounds it).
TEST_F(HeadlessFrames, ClosingWhileTrainingJoinsTheJobFirst) {
  auto g = std::make_unique<gui::HeadlessGui>(options());
  open_demo(*g);
  g->app().set_view(gui::View::Mpi);
  g->app().set_mpi_mode(1);
  g->app().start_training(1000000);
  // Frames until two steps are shown (a bound of a minute, not a timing check).
  const auto start = std::chrono::steady_clock::now();
  while (state(*g).value("training_steps", 0) < 2 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    g->frame();
  }
  const auto s = state(*g);
  EXPECT_TRUE(s.at("jobs_running").get<bool>()) << s.dump(2);
  EXPECT_GE(s.value("training_steps", 0), 2) << s.dump(2);
  g.reset(); // the job is mid-run
}

// Ctrl+Q through the key path the window uses asks the app to quit.
TEST_F(HeadlessFrames, CtrlQRequestsQuit) {
  gui::HeadlessGui g(options());
  open_demo(g);
  EXPECT_FALSE(g.app().quit_requested());
  g.press(GLFW_KEY_Q, true);
  EXPECT_TRUE(g.app().quit_requested());
}

} // namespace
} // namespace routerscope
