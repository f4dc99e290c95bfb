// A run record read while its writer runs (HDF5 SWMR, docs/FORMATS.md "Reading while a run
// writes"): a forked writer appends steps of two variants while this process (read_run_record)
// and /usr/bin/python3 with h5py (swmr=True, refresh) read it again and again. Oracles: every
// value is recomputed from (variant, step, expert) by the readers, and the writer waits at a few
// step counts until both readers have seen them, so the counts are seen to grow while it runs.
#include "core/error.h"
#include "io/run_record.h"
#include "tests/support/live_record.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <thread>
#include <unistd.h>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

constexpr int kSteps = 40, kExperts = 6;
constexpr int kMarks[] = {3, 17, 29}; // the writer waits here until both readers saw the count

TEST(RecordLive, ReadersSeeTheStepCountGrowWithEverySeriesOfEqualLength) {
  ASSERT_EQ(access("/usr/bin/python3", X_OK), 0) << "/usr/bin/python3 (with h5py) is required";
  test::TempDir dir("live");
  const fs::path path = dir / "run.h5", marks = dir / "marks";
  fs::create_directories(marks);
  test::LiveWriterSpec spec;
  spec.path = path;
  spec.identity = {"/models/demo", "olmoe", {{"model.safetensors", 1}}};
  spec.layer = 2;
  spec.experts = kExperts;
  spec.steps = kSteps;
  for (int mark : kMarks)
    spec.waits.push_back({mark,
                          {marks / ("cpp_seen_" + std::to_string(mark)),
                           marks / ("py_seen_" + std::to_string(mark))}});
  spec.done_file = marks / "writer_done";
  const pid_t pid = test::fork_live_writer(spec);
  ASSERT_GE(pid, 0);

  // h5py reads beside this process's reader.
  test::CommandResult py;
  std::thread python([&] {
    py = test::run_shell(
        "/usr/bin/python3 " +
        test::shell_quote(std::string(ROUTERSCOPE_SOURCE_DIR) + "/tests/io/live_reader.py") + " " +
        test::shell_quote(path.string()) + " " + std::to_string(kSteps) + " " +
        std::to_string(kExperts) + " " + test::shell_quote(marks.string()));
  });

  std::set<std::pair<int, int>> seen;
  std::pair<int, int> last{0, 0};
  int reads = 0;
  std::vector<std::string> problems;
  while (problems.size() < 10) {
    const bool finished = fs::exists(marks / "writer_done");
    RunRecord r;
    try {
      r = io::read_run_record(path);
    } catch (const Error& e) {
      // Only before the writer has declared its datasets (the file exists, SWMR not started).
      if (std::string(e.what()).find("not a readable HDF5 file") == std::string::npos &&
          std::string(e.what()).find("no such file") == std::string::npos)
        problems.push_back(e.what());
      continue;
    }
    ++reads;
    int counts[2] = {0, 0};
    for (const auto& v : r.variants) {
      const int vi = v.name == "vanilla" ? 0 : 1;
      std::set<Eigen::Index> lengths;
      for (const auto& [key, values] : v.scalars)
        lengths.insert(values.size());
      for (const auto& [key, m] : v.layers.at(2))
        lengths.insert(m.rows());
      if (lengths.size() != 1) {
        problems.push_back(v.name + ": series of different lengths at read " +
                           std::to_string(reads));
        continue;
      }
      const int n = int(*lengths.begin());
      counts[vi] = n;
      if (v.maxvio_global.size() != (n + 1) / 2)
        problems.push_back(v.name + ": MaxVio_global rows do not match the steps");
      for (int s = 0; s < n; ++s) {
        const TrainStepRecord want = test::live_training_step(vi, s, kExperts);
        if (v.scalars.at("loss")(s) != want.loss ||
            v.scalars.at("grad_norm")(s) != want.grad_norm ||
            VectorD(v.layers.at(2).at("load").row(s)) != want.load ||
            VectorD(v.layers.at(2).at("router_norm").row(s)) != want.router_norm)
          problems.push_back(v.name + ": step " + std::to_string(s) + " differs");
      }
    }
    if (counts[1] > counts[0] || counts[0] > counts[1] + 1)
      problems.push_back("variants at " + std::to_string(counts[0]) + " and " +
                         std::to_string(counts[1]) + " steps");
    if (counts[0] < last.first || counts[1] < last.second)
      problems.push_back("the step count went back");
    last = {counts[0], counts[1]};
    seen.insert(last);
    for (int mark : kMarks)
      if (std::min(counts[0], counts[1]) >= mark) // both variants: where the writer pauses
        std::ofstream(marks / ("cpp_seen_" + std::to_string(mark))) << "";
    if ((counts[0] == kSteps && counts[1] == kSteps) || finished)
      break;
  }
  python.join();
  ASSERT_TRUE(test::writer_succeeded(pid)) << "the writer failed";
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(last, std::make_pair(kSteps, kSteps));
  // Growth seen while the writer ran: it waits at each mark until the readers saw that count.
  for (int mark : kMarks)
    EXPECT_TRUE(seen.count({mark, mark}))
        << "never saw " << mark << " steps in " << reads << " reads";

  ASSERT_EQ(py.exit_code, 0) << py.out << py.err;
  const auto summary = nlohmann::json::parse(py.out);
  EXPECT_EQ(summary["errors"], nlohmann::json::array()) << py.out;
  EXPECT_EQ(summary["final"], nlohmann::json::array({kSteps, kSteps})) << py.out;
  EXPECT_GE(summary["distinct"].get<int>(), int(std::size(kMarks)) + 1) << py.out;
}

} // namespace
} // namespace routerscope
