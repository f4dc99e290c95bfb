#include "io/checkpoint.h"
#include "io/run_record.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/test_support.h"

#include <Eigen/SVD>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

// The hf-tiny Mixtral fixture as a checkpoint folder (model.safetensors + config.json).
fs::path mixtral_folder(const test::TempDir& dir) {
  const fs::path src = test::hf_tiny_dir();
  fs::copy_file(src / "mixtral_classic.safetensors", dir / "model.safetensors");
  fs::copy_file(src / "mixtral_classic_config.json", dir / "config.json");
  return dir.path();
}

TEST(MpiCommand, RecordRowZeroMatchesExactSvdOfCheckpoint) {
  test::TempDir dir("cli");
  const fs::path ckpt = mixtral_folder(dir);
  const fs::path rec = dir / "conv.h5";
  auto r = test::run_routerscope(
      {"mpi", ckpt.string(), "--layers", "0", "--steps", "4", "--record", rec.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunRecord record = io::read_run_record(rec);
  EXPECT_EQ(record.kind, "convergence");
  ASSERT_EQ(record.layers.size(), 1u);
  const MatrixD& cos = record.layers[0].series.at("cos");
  auto model = io::open_checkpoint(ckpt);
  MatrixF router = model->router(0);
  ASSERT_EQ(cos.rows(), 5);
  ASSERT_EQ(cos.cols(), router.rows());
  for (Eigen::Index i = 0; i < router.rows(); ++i) {
    Eigen::MatrixXd g = model->expert_weight(0, int(i), ExpertMatrix::Gate).cast<double>();
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(g, Eigen::ComputeThinV);
    Eigen::VectorXd u1 = svd.matrixV().col(0);
    Eigen::VectorXd ri = router.row(i).transpose().cast<double>();
    EXPECT_NEAR(cos(0, i), std::abs(ri.dot(u1)) / ri.norm(), 1e-4);
    EXPECT_NEAR(record.layers[0].sigma1(i), svd.singularValues()(0), 1e-4);
    for (Eigen::Index t = 1; t < 5; ++t) {
      EXPECT_GE(record.layers[0].series.at("lambda")(t, i),
                record.layers[0].series.at("lambda")(t - 1, i) - 1e-6);
    }
  }
  EXPECT_NE(r.out.find("mean |cos|"), std::string::npos);
}

TEST(TrainCommand, WritesEveryVariantAndStep) {
  test::TempDir dir("cli");
  const fs::path ckpt = mixtral_folder(dir);
  const fs::path rec = dir / "train.h5";
  auto r = test::run_routerscope({"train", ckpt.string(), "--layer", "1", "--steps", "6", "--batch",
                                  "16", "--pool", "64", "--held-out", "16", "--variants",
                                  "vanilla,mpi", "--record", rec.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunRecord record = io::read_run_record(rec);
  ASSERT_EQ(record.variants.size(), 2u);
  auto model = io::open_checkpoint(ckpt);
  const int n = model->info().layer(1).experts;
  for (const auto& v : record.variants) {
    EXPECT_EQ(v.scalars.at("loss").size(), 6);
    const MatrixD& load = v.layers.at(1).at("load");
    ASSERT_EQ(load.rows(), 6);
    for (Eigen::Index s = 0; s < 6; ++s) { // every slot of the batch is routed somewhere
      EXPECT_DOUBLE_EQ(load.row(s).sum(), 16.0 * model->info().layer(1).top_k.value());
    }
    if (v.name == "mpi") {
      EXPECT_NEAR(v.layers.at(1).at("router_norm")(5, 0), 4.0 / std::sqrt(double(n)), 1e-5);
    }
  }
}

TEST(TrainCommand, RejectsUnknownVariantWithExitTwo) {
  test::TempDir dir("cli");
  const fs::path ckpt = mixtral_folder(dir);
  auto r = test::run_routerscope({"train", ckpt.string(), "--variants", "vanilla,mpii"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("mpii"), std::string::npos) << r.err;
}

// Issue 15, finding 9: NaN weights made `mpi` fail with "the vector to retract has norm nan
// (router row in the null space …)", blaming the router and naming neither tensor nor layer.
TEST(MpiCommand, NonFiniteWeightsNameLayerExpertAndTensor) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    std::string tensor;
    MatrixF value;
    std::vector<std::string> needles;
  };
  test::FamilySpec spec;
  spec.layers = 2;
  MatrixF router = test::random_matrix(spec.experts, spec.d_model, 5, 0.5f);
  router(2, 7) = nan;
  const std::string expert = "model.layers.1.block_sparse_moe.experts.3.w1.weight";
  const std::string gate = "model.layers.0.block_sparse_moe.gate.weight";
  for (const Case& c :
       {Case{expert,
             MatrixF::Constant(spec.d_expert, spec.d_model, nan),
             {"layer 1, expert 3", expert, "NaN or Inf", "not at fault"}},
        Case{gate, router, {"layer 0, expert 2", "router row 2", gate, "NaN or Inf"}}}) {
    SCOPED_TRACE(c.tensor);
    test::TempDir dir("nan");
    test::FamilySpec s = spec;
    s.replace[c.tensor] = c.value;
    test::write_family_checkpoint(dir.path(), s);
    for (const char* command : {"mpi", "train"}) {
      std::vector<std::string> args = {command, dir.path().string(), "--steps", "2"};
      if (std::string(command) == "train")
        args.insert(args.end(), {"--layer", c.tensor == expert ? "1" : "0"});
      const auto r = test::run_routerscope(args);
      EXPECT_EQ(r.exit_code, 2) << command << ": " << r.err;
      for (const auto& n : c.needles)
        EXPECT_NE(r.err.find(n), std::string::npos) << command << ": " << r.err;
      EXPECT_EQ(r.err.find("null space"), std::string::npos) << r.err;
    }
  }
}

} // namespace
} // namespace routerscope
