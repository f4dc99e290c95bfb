// Run records under faults: a writer killed mid-step, a reader beside a live writer, a full disk,
// and attributes rewritten by h5py (docs/RELIABILITY.md).
#include "core/error.h"
#include "io/figure_export.h"
#include "io/png_image.h"
#include "io/record_figures.h"
#include "io/run_record.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace routerscope {
namespace {

TrainStepRecord step(int s, int n = 4) {
  TrainStepRecord r;
  r.name = "mpi";
  r.step = s;
  r.loss = 1.0 / (s + 1);
  r.task_loss = 0.5 / (s + 1);
  r.lb_loss = 0.01 * (s + 1);
  r.z_loss = 0.0;
  r.maxvio_batch = 0.1 * s;
  r.lr = 1e-3;
  r.grad_norm = 1.0 + s;
  r.load = VectorD::LinSpaced(n, s, s + n - 1);
  r.cos = VectorD::Constant(n, 0.5);
  r.lambda = VectorD::Constant(n, 0.25);
  r.router_norm = VectorD::Constant(n, 2.0 + s);
  r.stored_cos = VectorD::Constant(n, 0.5);
  r.stored_norm = VectorD::Constant(n, 3.0 + s);
  return r;
}

RecordIdentity identity() {
  return {"/models/demo", "olmoe", {{"model.safetensors", 1}}};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::string(e.kind() == ErrorKind::BadInput ? "[input] " : "[other] ") + e.what();
  }
  return "no error";
}

std::string python(const std::string& script) {
  return test::run_shell("/usr/bin/python3 -c '" + script + "' 2>&1").out;
}

// Finding 3: the datasets of one step used to be flushed at different times, so a killed run's
// record held 245 loss values and 244 LB values and could not be plotted.
TEST(RecordReliability, WriterKilledMidStepLeavesEveryCompleteStepAndNoPartOfTheNext) {
  test::TempDir dir("kill");
  const auto path = dir / "killed.h5";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      io::RunRecordWriter w(path, "training", R"({"variants":["mpi"]})", identity(), 0.0);
      for (int s = 0; s < 5; ++s)
        w.add_training_step(1, step(s));
      // Half of step 5, then a flush: what a flush (or HDF5 evicting its cache) in the middle of
      // a step leaves on disk.
      w.append_value("variants/mpi/loss", 42.0);
      w.append_value("variants/mpi/task_loss", 42.0);
      w.flush();
      char c = 'f';
      if (write(fds[1], &c, 1) != 1)
        _exit(3);
      pause();
    } catch (...) {
      _exit(2);
    }
  }
  ::close(fds[1]);
  char c = 0;
  ASSERT_EQ(read(fds[0], &c, 1), 1);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status));

  RunRecord r = io::read_run_record(path);
  ASSERT_EQ(r.variants.size(), 1u);
  EXPECT_EQ(r.variants[0].scalars.at("loss").size(), 5);
  EXPECT_EQ(r.variants[0].scalars.at("task_loss").size(), 5);
  EXPECT_EQ(r.variants[0].scalars.at("lb_loss").size(), 5);
  EXPECT_EQ(r.variants[0].layers.at(1).at("load").rows(), 5);
  for (int s = 0; s < 5; ++s)
    EXPECT_DOUBLE_EQ(r.variants[0].scalars.at("loss")(s), 1.0 / (s + 1));
  for (const char* name : {"training", "load", "norms"})
    EXPECT_NO_THROW(io::record_figure(r, name, std::nullopt)) << name;
}

// Finding 10: a full disk was an internal error (exit 1) or a 0-byte file blamed on the folder.
TEST(RecordReliability, FullDiskIsBadInputNamingTheFileAndTheCause) {
  ASSERT_TRUE(std::filesystem::exists("/dev/full"));
  const std::string create = error_of([] {
    io::RunRecordWriter w("/dev/full", "training", "{}", identity());
    w.close();
  });
  EXPECT_EQ(create.rfind("[input] /dev/full", 0), 0u) << create;
  EXPECT_NE(create.find("No space left on device"), std::string::npos) << create;

  test::TempDir dir("full");
  const std::string missing =
      error_of([&] { io::RunRecordWriter w(dir / "no" / "run.h5", "training", "{}", identity()); });
  EXPECT_NE(missing.find("No such file or directory"), std::string::npos) << missing;

  // A file-size limit makes writes fail part-way through the run like a disk filling up.
  const auto path = dir / "big.h5";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{64 * 1024, 64 * 1024};
    setrlimit(RLIMIT_FSIZE, &limit);
    const std::string e = error_of([&] {
      io::RunRecordWriter w(path, "training", "{}", identity(), 0.0);
      for (int s = 0; s < 100000; ++s)
        w.add_training_step(0, step(s, 64));
      w.close();
    });
    const bool named = e.rfind("[input] " + path.string(), 0) == 0 &&
                       e.find("File too large") != std::string::npos;
    _exit(named ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the write error was not BadInput naming file and cause";
}

// Finding 12: string attributes rewritten by h5py (variable-length UTF-8) were "unreadable",
// a missing `kind` gave "cannot be drawn from a  record".
TEST(RecordReliability, ReadsAttributesRewrittenByH5pyAndNamesAMissingKind) {
  test::TempDir dir("attrs");
  const auto path = dir / "run.h5";
  {
    io::RunRecordWriter w(path, "training", R"({"variants":["mpi"]})", identity());
    w.add_training_step(0, step(0));
  }
  const std::string out = python("import h5py\n"
                                 "f = h5py.File(\"" +
                                 path.string() +
                                 "\", \"a\")\n"
                                 "f.attrs[\"kind\"] = \"training\"\n"
                                 "f.attrs[\"checkpoint_family\"] = \"mixtral\"\n"
                                 "print(\"done\")\n");
  ASSERT_NE(out.find("done"), std::string::npos) << out;
  RunRecord r = io::read_run_record(path);
  EXPECT_EQ(r.kind, "training");
  EXPECT_EQ(r.identity.family, "mixtral");

  ASSERT_NE(python("import h5py\n"
                   "f = h5py.File(\"" +
                   path.string() +
                   "\", \"a\")\n"
                   "del f.attrs[\"kind\"]\n"
                   "print(\"done\")\n")
                .find("done"),
            std::string::npos);
  const std::string e = error_of([&] { io::read_run_record(path); });
  EXPECT_EQ(e.rfind("[input] " + path.string(), 0), 0u) << e;
  EXPECT_NE(e.find("attribute 'kind' is missing"), std::string::npos) << e;
}

// Finding 12: a convergence record without layers said "no layer -1".
TEST(RecordReliability, ConvergenceRecordWithoutLayersSaysSo) {
  test::TempDir dir("nolayers");
  const auto path = dir / "empty.h5";
  { io::RunRecordWriter w(path, "convergence", "{}", identity()); }
  RunRecord r = io::read_run_record(path);
  const std::string e = error_of([&] { io::record_figure(r, "convergence", std::nullopt); });
  EXPECT_NE(e.find("holds no layer"), std::string::npos) << e;
  EXPECT_EQ(e.find("-1"), std::string::npos) << e;
}

// Found by the record fuzz target (input kept in tests/data/fuzz/record/; the fuzz target
// replays it): a convergence layer whose sigma2 is shorter than its series are wide made the
// figure read past the end of σ₂ (an Eigen assertion, or garbage in a Release build). The
// reader now refuses it, naming the dataset.
TEST(RecordReliability, SigmaOfAnotherLengthThanTheExpertsIsBadInput) {
  test::TempDir dir("sigma");
  const auto path = dir / "conv.h5";
  { io::RunRecordWriter w(path, "convergence", "{}", identity()); }
  ASSERT_NE(python("import h5py, numpy as np\n"
                   "f = h5py.File(\"" +
                   path.string() +
                   "\", \"a\")\n"
                   "del f[\"committed_rows\"]  # hand-made series: every row counts\n"
                   "g = f.create_group(\"layers/0\")\n"
                   "g[\"cos\"] = np.full((2, 4), 0.5)\n"
                   "g[\"sigma1\"] = np.ones(4)\n"
                   "g[\"sigma2\"] = np.full(3, 0.5)\n"
                   "print(\"done\")\n")
                .find("done"),
            std::string::npos);
  const std::string e = error_of([&] { io::read_run_record(path); });
  EXPECT_EQ(e.rfind("[input] " + path.string(), 0), 0u) << e;
  EXPECT_NE(e.find("layers/0/sigma2 holds 3 values, expected one per expert (4)"),
            std::string::npos)
      << e;
}

// Found by the record fuzz target (input in tests/data/fuzz/record/): a maxvio_global series
// longer than its maxvio_global_step made the load figure read past the end of the steps.
TEST(RecordReliability, MaxvioGlobalLongerThanItsStepsStillPlots) {
  test::TempDir dir("maxvio");
  const auto path = dir / "train.h5";
  {
    io::RunRecordWriter w(path, "training", R"({"variants":["mpi"]})", identity());
    for (int s = 0; s < 3; ++s)
      w.add_training_step(0, step(s));
  }
  ASSERT_NE(python("import h5py, numpy as np\n"
                   "f = h5py.File(\"" +
                   path.string() +
                   "\", \"a\")\n"
                   "del f[\"committed_rows\"]  # hand-made series: every row counts\n"
                   "v = f[\"variants/mpi\"]\n"
                   "for k in (\"maxvio_global\", \"maxvio_global_step\"):\n"
                   "    if k in v: del v[k]\n"
                   "v[\"maxvio_global\"] = np.array([0.5, 0.25, 0.125])\n"
                   "v[\"maxvio_global_step\"] = np.array([2.0])\n"
                   "print(\"done\")\n")
                .find("done"),
            std::string::npos);
  const RunRecord r = io::read_run_record(path);
  const Figure f = io::record_figure(r, "load", std::nullopt);
  EXPECT_FALSE(f.panels.empty());
}

// Finding 8: `plot` on a record holding 1e308 exited 1 ("cairo drawing failed: invalid matrix").
TEST(RecordReliability, RecordHolding1e308PlotsToAPng) {
  test::TempDir dir("huge");
  const auto path = dir / "huge.h5";
  {
    io::RunRecordWriter w(path, "training", R"({"variants":["mpi"]})", identity());
    for (int s = 0; s < 6; ++s) {
      TrainStepRecord r = step(s);
      if (s == 3) {
        r.loss = 1e308;
        r.lb_loss = -1e308;
        r.router_norm(1) = 1e308;
      }
      w.add_training_step(0, r);
    }
  }
  const RunRecord r = io::read_run_record(path);
  for (const char* name : {"training", "load", "norms"}) {
    const auto png = dir / (std::string(name) + ".png");
    ASSERT_NO_THROW(io::export_figure(io::record_figure(r, name, std::nullopt), png)) << name;
    const io::RgbaImage image = io::read_png(png);
    EXPECT_GT(image.width, 100) << name;
  }
}

} // namespace
} // namespace routerscope
