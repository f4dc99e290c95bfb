// `routerscope plot` on a run record whose writer still runs (HDF5 SWMR). The oracle: the CSV of
// the same figure built in memory from the steps the writer had committed (the writer pauses
// after them until the test lets it go on), then from every step once it has finished.
#include "core/error.h"
#include "io/figure_export.h"
#include "io/record_figures.h"
#include "io/run_record.h"
#include "tests/support/live_record.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <unistd.h>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

constexpr int kPause = 6, kSteps = 10, kExperts = 5, kLayer = 1;

std::string expected_csv(int steps) {
  std::vector<TrainStepRecord> records;
  for (int s = 0; s < steps; ++s)
    for (int v = 0; v < 2; ++v)
      records.push_back(test::live_training_step(v, s, kExperts));
  return io::figure_csv(io::record_figure(
      training_record(records, kLayer, R"({"variants":["vanilla","mpi"]})"), "training"));
}

TEST(LiveCli, PlotDrawsARecordWhileItsWriterRuns) {
  test::TempDir dir("liveplot");
  test::LiveWriterSpec spec;
  spec.path = dir / "run.h5";
  spec.identity = {"/models/demo", "olmoe", {{"model.safetensors", 1}}};
  spec.layer = kLayer;
  spec.experts = kExperts;
  spec.steps = kSteps;
  spec.waits = {{kPause, {dir / "go_on"}}};
  spec.done_file = dir / "writer_done";
  const pid_t pid = test::fork_live_writer(spec);
  ASSERT_GE(pid, 0);
  // Until the writer has committed its first kPause steps (it pauses there).
  auto committed_steps = [&] {
    try {
      return int(training_steps(io::read_run_record(spec.path), "run.h5").size()) / 2;
    } catch (const Error&) {
      return 0; // not started yet
    }
  };
  while (committed_steps() < kPause && !fs::exists(spec.done_file))
    usleep(2000);
  const auto live = test::run_routerscope({"plot", spec.path.string(), "--figure", "training",
                                           "--out", (dir / "live.png").string(), "--csv", "-"});
  std::ofstream(dir / "go_on") << "";
  ASSERT_TRUE(test::writer_succeeded(pid));
  ASSERT_EQ(live.exit_code, 0) << live.err;
  EXPECT_TRUE(fs::exists(dir / "live.png"));
  EXPECT_EQ(live.out, expected_csv(kPause));

  const auto done = test::run_routerscope({"plot", spec.path.string(), "--figure", "training",
                                           "--out", (dir / "done.png").string(), "--csv", "-"});
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, expected_csv(kSteps));
}

} // namespace
} // namespace routerscope
