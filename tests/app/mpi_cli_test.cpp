#include "io/checkpoint.h"
#include "io/run_record.h"
#include "tests/support/test_support.h"

#include <Eigen/SVD>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

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
  io::RunRecord record = io::read_run_record(rec);
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
  io::RunRecord record = io::read_run_record(rec);
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

} // namespace
} // namespace routerscope
