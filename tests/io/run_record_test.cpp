#include "core/error.h"
#include "io/run_record.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <sys/wait.h>
#include <unistd.h>

namespace routerscope {
namespace {

TrainStepRecord step_record(const std::string& name, int step, int n, bool mpi) {
  TrainStepRecord r;
  r.name = name;
  r.step = step;
  r.loss = 1.0 / (step + 1);
  r.task_loss = 0.5 / (step + 1);
  r.lb_loss = 0.01 + step;
  r.z_loss = 2.0 * step;
  r.maxvio_batch = 0.25 * step;
  r.load = VectorD::LinSpaced(n, step, step + n - 1);
  r.cos = VectorD::Constant(n, 0.1 * step);
  r.lambda = VectorD::Constant(n, 0.2 * step);
  r.router_norm = VectorD::Constant(n, 3.0 + step);
  if (mpi) {
    r.stored_cos = VectorD::Constant(n, 0.3);
    r.stored_norm = VectorD::Constant(n, 7.0 + step);
  }
  if (step % 2 == 0)
    r.maxvio_global = 0.5 + step;
  return r;
}

RecordIdentity identity() {
  return {"/models/demo", "olmoe", {{"model.safetensors", 1234}}};
}

TEST(RunRecord, TrainingRoundTrip) {
  test::TempDir dir("rec");
  {
    io::RunRecordWriter w(dir / "run.h5", "training", R"({"steps":4})", identity());
    io::declare_training_variant(w, 3, "vanilla", 5, false, true);
    io::declare_training_variant(w, 3, "mpi", 5, true, true);
    for (int s = 0; s < 4; ++s) {
      w.add_training_step(3, step_record("vanilla", s, 5, false));
      w.add_training_step(3, step_record("mpi", s, 5, true));
    }
  }
  RunRecord r = io::read_run_record(dir / "run.h5");
  EXPECT_EQ(r.kind, "training");
  EXPECT_EQ(nlohmann::json::parse(r.config)["steps"], 4);
  EXPECT_EQ(r.identity.family, "olmoe");
  ASSERT_EQ(r.identity.files.size(), 1u);
  EXPECT_EQ(r.identity.files[0].second, 1234u);
  ASSERT_EQ(r.variants.size(), 2u);
  const auto& mpi = r.variants[0].name == "mpi" ? r.variants[0] : r.variants[1];
  ASSERT_EQ(mpi.scalars.at("loss").size(), 4);
  for (int s = 0; s < 4; ++s) {
    TrainStepRecord want = step_record("mpi", s, 5, true);
    EXPECT_DOUBLE_EQ(mpi.scalars.at("loss")(s), want.loss);
    EXPECT_DOUBLE_EQ(mpi.scalars.at("z_loss")(s), want.z_loss);
    EXPECT_EQ(VectorD(mpi.layers.at(3).at("load").row(s)), want.load);
    EXPECT_EQ(VectorD(mpi.layers.at(3).at("stored_norm").row(s)), want.stored_norm);
  }
  EXPECT_EQ(mpi.maxvio_global.size(), 2);
  EXPECT_DOUBLE_EQ(mpi.maxvio_global_step(1), 2.0);
  EXPECT_DOUBLE_EQ(mpi.maxvio_global(1), 2.5);
  const auto& van = r.variants[0].name == "vanilla" ? r.variants[0] : r.variants[1];
  EXPECT_EQ(van.layers.at(3).count("stored_cos"), 0u);
}

void expect_same_step(const TrainStepRecord& got, const TrainStepRecord& want) {
  SCOPED_TRACE(want.name + " step " + std::to_string(want.step));
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.step, want.step);
  EXPECT_DOUBLE_EQ(got.loss, want.loss);
  EXPECT_DOUBLE_EQ(got.task_loss, want.task_loss);
  EXPECT_DOUBLE_EQ(got.lb_loss, want.lb_loss);
  EXPECT_DOUBLE_EQ(got.z_loss, want.z_loss);
  EXPECT_DOUBLE_EQ(got.maxvio_batch, want.maxvio_batch);
  EXPECT_EQ(got.load, want.load);
  EXPECT_EQ(got.cos, want.cos);
  EXPECT_EQ(got.lambda, want.lambda);
  EXPECT_EQ(got.router_norm, want.router_norm);
  EXPECT_EQ(got.stored_cos, want.stored_cos);
  EXPECT_EQ(got.stored_norm, want.stored_norm);
  EXPECT_EQ(got.maxvio_global, want.maxvio_global);
}

// Declares the variants of two_variant_run(·, n) recorded at `layer`.
void declare_two_variants(io::RunRecordWriter& w, int layer, int n) {
  io::declare_training_variant(w, layer, "vanilla", std::size_t(n), false, true);
  io::declare_training_variant(w, layer, "mpi", std::size_t(n), true, true);
}

std::vector<TrainStepRecord> two_variant_run(int steps, int n) {
  std::vector<TrainStepRecord> out;
  for (int s = 0; s < steps; ++s) {
    out.push_back(step_record("vanilla", s, n, false));
    out.back().variant = 0;
    out.push_back(step_record("mpi", s, n, true));
    out.back().variant = 1;
  }
  return out;
}

TEST(RunRecord, TrainingStepsInvertTheWriterInTheConfigsVariantOrder) {
  test::TempDir dir("steps");
  const auto want = two_variant_run(5, 6);
  {
    io::RunRecordWriter w(dir / "run.h5", "training", R"({"variants":["vanilla","mpi"]})",
                          identity());
    declare_two_variants(w, 4, 6);
    for (const auto& r : want)
      w.add_training_step(4, r);
  }
  int layer = -1;
  const auto got = training_steps(io::read_run_record(dir / "run.h5"), "run.h5", &layer);
  EXPECT_EQ(layer, 4);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    expect_same_step(got[i], want[i]);
    EXPECT_EQ(got[i].variant, want[i].variant);
  }
}

TEST(RunRecord, InMemoryTrainingRecordEqualsTheOneWrittenAndReadBack) {
  test::TempDir dir("mem");
  const auto steps = two_variant_run(4, 3);
  {
    io::RunRecordWriter w(dir / "run.h5", "training", "{}", identity());
    declare_two_variants(w, 2, 3);
    for (const auto& r : steps)
      w.add_training_step(2, r);
  }
  const RunRecord disk = io::read_run_record(dir / "run.h5");
  const RunRecord mem = training_record(steps, 2);
  EXPECT_EQ(mem.kind, disk.kind);
  ASSERT_EQ(mem.variants.size(), disk.variants.size());
  for (size_t v = 0; v < disk.variants.size(); ++v) {
    const auto &a = mem.variants[v], &b = disk.variants[v];
    EXPECT_EQ(a.name, b.name);
    ASSERT_EQ(a.scalars.size(), b.scalars.size());
    for (const auto& [key, values] : b.scalars)
      EXPECT_EQ(a.scalars.at(key), values) << b.name << "/" << key;
    ASSERT_EQ(a.layers.size(), 1u);
    ASSERT_EQ(a.layers.at(2).size(), b.layers.at(2).size());
    for (const auto& [key, m] : b.layers.at(2))
      EXPECT_EQ(a.layers.at(2).at(key), m) << b.name << "/layers/2/" << key;
    EXPECT_EQ(a.maxvio_global, b.maxvio_global);
    EXPECT_EQ(a.maxvio_global_step, b.maxvio_global_step);
  }
}

// Equal element by element, NaN equal to NaN (pre_norm is NaN at step 0).
::testing::AssertionResult same_values(const MatrixD& a, const MatrixD& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    return ::testing::AssertionFailure()
           << a.rows() << "x" << a.cols() << " vs " << b.rows() << "x" << b.cols();
  for (Eigen::Index i = 0; i < a.size(); ++i)
    if (!(a.data()[i] == b.data()[i] || (std::isnan(a.data()[i]) && std::isnan(b.data()[i]))))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a.data()[i] << " vs " << b.data()[i];
  return ::testing::AssertionSuccess();
}

TEST(RunRecord, InMemoryConvergenceRecordEqualsTheOneWrittenAndReadBack) {
  test::TempDir dir("conv");
  LayerConvergence layer;
  layer.layer = 3;
  const int n = 4;
  for (int i = 0; i < n; ++i) {
    PrincipalDirection d;
    d.sigma1 = 2.0 + i;
    d.sigma2 = 0.5 + 0.1 * i;
    layer.directions.push_back(d);
  }
  for (int t = 0; t < 5; ++t) {
    ConvergenceRow r;
    r.step = t;
    r.cos = VectorD::LinSpaced(n, 0.1 * t, 0.1 * t + 0.3);
    r.lambda = VectorD::Constant(n, 0.2 * t);
    r.router_norm = VectorD::Constant(n, 3.0 + t);
    r.pre_norm = t == 0 ? VectorD::Constant(n, std::nan("")) : VectorD::Constant(n, 5.0 * t);
    r.tan_theta = VectorD::LinSpaced(n, 1.0 / (t + 1), 2.0 / (t + 1));
    r.tan_bound = VectorD::Constant(n, std::pow(0.5, t));
    layer.rows.push_back(r);
  }
  {
    io::RunRecordWriter w(dir / "run.h5", "convergence", R"({"power_steps":1})", identity());
    io::declare_convergence_layer(w, layer.layer, n);
    for (const auto& r : layer.rows)
      w.add_convergence_row(layer, r);
  }
  const RunRecord disk = io::read_run_record(dir / "run.h5");
  const RunRecord mem = convergence_record(layer, R"({"power_steps":1})", identity());
  EXPECT_EQ(mem.kind, disk.kind);
  EXPECT_EQ(mem.config, disk.config);
  EXPECT_EQ(mem.identity.path, disk.identity.path);
  ASSERT_EQ(disk.layers.size(), 1u);
  ASSERT_EQ(mem.layers.size(), 1u);
  const auto &a = mem.layers[0], &b = disk.layers[0];
  EXPECT_EQ(a.layer, b.layer);
  EXPECT_TRUE(same_values(a.sigma1, b.sigma1));
  EXPECT_TRUE(same_values(a.sigma2, b.sigma2));
  ASSERT_EQ(a.series.size(), b.series.size());
  for (const auto& [key, m] : b.series) {
    ASSERT_TRUE(a.series.count(key)) << key;
    EXPECT_TRUE(same_values(a.series.at(key), m)) << key;
  }
}

TEST(RunRecord, TrainingStepsOfACutRecordKeepOnlyCompleteSteps) {
  test::TempDir dir("cut");
  const auto path = dir / "run.h5";
  {
    io::RunRecordWriter w(path, "training", "{}", identity());
    declare_two_variants(w, 0, 4);
    for (const auto& r : two_variant_run(6, 4))
      w.add_training_step(0, r);
  }
  { // As if the writer died between two appends of step 5: one dataset is a row short.
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, "variants/mpi/layers/0/cos", H5P_DEFAULT);
    ASSERT_GE(d, 0);
    const hsize_t dims[2] = {5, 4};
    ASSERT_GE(H5Dset_extent(d, dims), 0);
    H5Dclose(d);
    H5Fclose(f);
  }
  const auto got = training_steps(io::read_run_record(path), "run.h5");
  int mpi = 0, vanilla = 0;
  for (const auto& r : got)
    (r.name == "mpi" ? mpi : vanilla)++;
  EXPECT_EQ(mpi, 5);
  EXPECT_EQ(vanilla, 6);
}

TEST(RunRecord, TrainingStepsRejectAConvergenceRecordNamingTheFile) {
  test::TempDir dir("conv");
  {
    io::RunRecordWriter w(dir / "c.h5", "convergence", "{}", identity());
    ConvergenceRow row;
    row.cos = row.lambda = row.router_norm = row.pre_norm = row.tan_theta = row.tan_bound =
        VectorD::Constant(2, 0.5);
    LayerConvergence layer;
    w.add_convergence_row(layer, row);
  }
  try {
    training_steps(io::read_run_record(dir / "c.h5"), "c.h5");
    FAIL() << "expected BadInput";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("c.h5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("convergence"), std::string::npos) << e.what();
  }
}

LayerConvergence convergence_layer(int layer, int n) {
  LayerConvergence c;
  c.layer = layer;
  for (int i = 0; i < n; ++i) {
    PrincipalDirection d;
    d.sigma1 = 2.0 + i;
    d.sigma2 = 1.0 + i;
    c.directions.push_back(d);
  }
  return c;
}

ConvergenceRow convergence_row(int t, int n) {
  ConvergenceRow row;
  row.step = t;
  row.cos = VectorD::LinSpaced(n, 0.1 * t, 0.1 * t + 0.01 * n);
  row.lambda = row.cos * 0.5;
  row.router_norm = VectorD::Constant(n, 1.5);
  row.pre_norm = VectorD::Constant(n, t == 0 ? std::nan("") : 2.0 * t);
  row.tan_theta = VectorD::Constant(n, 1.0 / (t + 1));
  row.tan_bound = VectorD::Constant(n, 2.0 / (t + 1));
  return row;
}

TEST(RunRecord, ConvergenceRoundTripKeepsRowZero) {
  test::TempDir dir("rec");
  {
    io::RunRecordWriter w(dir / "conv.h5", "convergence", "{}", identity());
    LayerConvergence c = convergence_layer(1, 3);
    for (int t = 0; t <= 5; ++t)
      w.add_convergence_row(c, convergence_row(t, 3));
  }
  RunRecord r = io::read_run_record(dir / "conv.h5");
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].layer, 1);
  const MatrixD& cos = r.layers[0].series.at("cos");
  ASSERT_EQ(cos.rows(), 6);
  ASSERT_EQ(cos.cols(), 3);
  EXPECT_EQ(VectorD(cos.row(4)), convergence_row(4, 3).cos);
  EXPECT_TRUE(std::isnan(r.layers[0].series.at("pre_norm")(0, 0)));
  EXPECT_DOUBLE_EQ(r.layers[0].sigma1(2), 4.0);
  EXPECT_DOUBLE_EQ(r.layers[0].sigma2(0), 1.0);
}

TEST(RunRecord, SurvivesKillMinusNineAfterFlush) {
  test::TempDir dir("kill");
  const auto path = dir / "killed.h5";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      // No automatic flush: only the explicit one below makes steps durable.
      io::RunRecordWriter w(path, "training", "{}", identity(), 1e9);
      for (int s = 0; s < 7; ++s)
        w.add_training_step(0, step_record("mpi", s, 4, true));
      w.flush();
      char c = 'f';
      if (write(fds[1], &c, 1) != 1)
        _exit(3);
      for (int s = 7;; ++s) {
        w.add_training_step(0, step_record("mpi", s, 4, true));
        usleep(200);
      }
    } catch (...) {
      _exit(2);
    }
  }
  ::close(fds[1]);
  char c = 0;
  ASSERT_EQ(read(fds[0], &c, 1), 1);
  usleep(50000);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status));
  RunRecord r = io::read_run_record(path);
  ASSERT_EQ(r.variants.size(), 1u);
  const auto& loss = r.variants[0].scalars.at("loss");
  const auto& load = r.variants[0].layers.at(0).at("load");
  ASSERT_GE(loss.size(), 7);
  ASSERT_GE(load.rows(), 7);
  for (int s = 0; s < 7; ++s) {
    EXPECT_DOUBLE_EQ(loss(s), 1.0 / (s + 1));
    EXPECT_EQ(VectorD(load.row(s)), step_record("mpi", s, 4, true).load);
  }
}

std::string run_python(const std::string& script) {
  return test::run_shell("/usr/bin/python3 -c '" + script + "' 2>&1").out;
}

bool have_h5py() {
  return access("/usr/bin/python3", X_OK) == 0 &&
         run_python("import h5py; print(\"ok\")").find("ok") == 0;
}

TEST(RunRecord, H5pyReadsWhatWeWrote) {
  if (!have_h5py())
    FAIL() << "/usr/bin/python3 with h5py (a test dependency) is not available";
  test::TempDir dir("py");
  const auto path = dir / "py.h5";
  {
    io::RunRecordWriter w(path, "training", R"({"lr":0.001})", identity());
    for (int s = 0; s < 3; ++s)
      w.add_training_step(2, step_record("mpi", s, 4, true));
  }
  std::string out =
      run_python("import h5py, json\n"
                 "f = h5py.File(\"" +
                 path.string() +
                 "\", \"r\")\n"
                 "v = f[\"variants/mpi\"]\n"
                 "a = f.attrs[\"config\"]\n"
                 "a = a.decode() if isinstance(a, bytes) else a\n"
                 "print(json.dumps({\"loss\": v[\"loss\"][:].tolist(),"
                 " \"load\": v[\"layers/2/load\"][:].tolist(),"
                 " \"shape\": list(v[\"layers/2/cos\"].shape), \"config\": json.loads(a)}))\n");
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(out)) << out;
  ASSERT_EQ(j["loss"].size(), 3u);
  for (int s = 0; s < 3; ++s) {
    EXPECT_DOUBLE_EQ(j["loss"][size_t(s)].get<double>(), 1.0 / (s + 1));
    for (int e = 0; e < 4; ++e)
      EXPECT_DOUBLE_EQ(j["load"][size_t(s)][size_t(e)].get<double>(), double(s + e));
  }
  EXPECT_EQ(j["shape"][0], 3);
  EXPECT_EQ(j["shape"][1], 4);
  EXPECT_DOUBLE_EQ(j["config"]["lr"].get<double>(), 0.001);
}

// Records written before live writing (format 1): no committed_rows dataset, a committed_rows
// attribute per series (a series without one counts all its rows). Written here by h5py exactly
// as docs/FORMATS.md describes that format.
TEST(RunRecord, Format1RecordsStillReadWithTheirCommittedRows) {
  if (!have_h5py())
    FAIL() << "/usr/bin/python3 with h5py (a test dependency) is not available";
  test::TempDir dir("v1");
  const auto path = dir / "v1.h5";
  const std::string out = run_python(
      "import h5py, numpy as np\n"
      "f = h5py.File(\"" +
      path.string() +
      "\", \"w\")\n"
      "for k, v in [(\"routerscope_record\", \"1\"), (\"kind\", \"training\"),"
      " (\"config\", \"{}\"), (\"checkpoint_path\", \"/m\")]:\n"
      "    f.attrs[k] = v\n"
      "for k in [\"loss\", \"task_loss\", \"lb_loss\", \"z_loss\", \"maxvio_batch\", \"lr\","
      " \"grad_norm\"]:\n"
      "    d = f.create_dataset(\"variants/mpi/\" + k, data=np.arange(5.0) + 1, maxshape=(None,))\n"
      "    d.attrs[\"committed_rows\"] = np.int64(3)\n"
      "for k in [\"load\", \"cos\", \"lambda\", \"router_norm\"]:\n"
      "    d = f.create_dataset(\"variants/mpi/layers/0/\" + k, maxshape=(None, 2),\n"
      "                         data=np.arange(5.0)[:, None] * np.ones((1, 2)))\n"
      "    if k != \"cos\":\n"
      "        d.attrs[\"committed_rows\"] = np.int64(4)\n"
      "print(\"done\")\n");
  ASSERT_NE(out.find("done"), std::string::npos) << out;
  const RunRecord r = io::read_run_record(path);
  ASSERT_EQ(r.variants.size(), 1u);
  EXPECT_EQ(r.variants[0].scalars.at("loss"), (VectorD(3) << 1, 2, 3).finished());
  EXPECT_EQ(r.variants[0].layers.at(0).at("load").rows(), 4);
  EXPECT_EQ(r.variants[0].layers.at(0).at("cos").rows(), 5); // no attribute: every row
  const auto steps = training_steps(r, "v1.h5");
  ASSERT_EQ(steps.size(), 3u); // the steps every series holds
  EXPECT_EQ(steps[2].load, (VectorD(2) << 2, 2).finished());
}

TEST(HiddenStates, ReadsF16F32AndF64WrittenByH5py) {
  if (!have_h5py())
    FAIL() << "/usr/bin/python3 with h5py (a test dependency) is not available";
  test::TempDir dir("hs");
  for (const char* dtype : {"float16", "float32", "float64"}) {
    const auto path = dir / (std::string(dtype) + ".h5");
    std::string out = run_python("import h5py, numpy as np\n"
                                 "x = (np.arange(12).reshape(3, 4) * 0.25 - 1).astype(np." +
                                 std::string(dtype) +
                                 ")\n"
                                 "h5py.File(\"" +
                                 path.string() +
                                 "\", \"w\").create_dataset(\"hidden_states\", data=x)\n"
                                 "print(\"done\")\n");
    ASSERT_NE(out.find("done"), std::string::npos) << out;
    MatrixF x = io::read_hidden_states(path);
    ASSERT_EQ(x.rows(), 3);
    ASSERT_EQ(x.cols(), 4);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        EXPECT_FLOAT_EQ(x(i, j), float((i * 4 + j) * 0.25 - 1)) << dtype;
  }
}

TEST(HiddenStates, RejectsMissingDatasetAndWrongRank) {
  test::TempDir dir("hs");
  const auto path = dir / "bad.h5";
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[1] = {4};
  hid_t space = H5Screate_simple(1, dims, nullptr);
  hid_t ds =
      H5Dcreate2(f, "hidden_states", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  float v[4] = {1, 2, 3, 4};
  H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
  try {
    io::read_hidden_states(path);
    FAIL() << "rank 1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::read_hidden_states(path, "activations"), Error);
  EXPECT_THROW(io::read_run_record(path), Error); // not a RouterScope record
}

} // namespace
} // namespace routerscope
