#include "core/align.h"
#include "core/error.h"
#include "tests/support/test_support.h"

#include <Eigen/SVD>
#include <gtest/gtest.h>

namespace routerscope {
namespace {

// Oracle per expert: Jacobi SVD in double of G ([d, D] after orientation), cos and λ in double.
void expect_matches_svd(const test::InMemoryModel& model, const std::vector<LayerAlignment>& out,
                        ExpertMatrix which) {
  for (const LayerAlignment& la : out) {
    MatrixF router = model.router(la.layer);
    ASSERT_EQ(la.experts.size(), static_cast<size_t>(router.rows()));
    std::vector<double> cosines;
    for (const ExpertAlignment& a : la.experts) {
      SCOPED_TRACE("layer " + std::to_string(la.layer) + " expert " + std::to_string(a.expert));
      MatrixF w = model.expert_weight(la.layer, a.expert, which);
      Eigen::MatrixXd g = which == ExpertMatrix::Down
                              ? Eigen::MatrixXd(w.cast<double>().transpose())
                              : Eigen::MatrixXd(w.cast<double>());
      Eigen::JacobiSVD<Eigen::MatrixXd> svd(g, Eigen::ComputeThinV);
      const VectorD v1 = svd.matrixV().col(0);
      const double s1 = svd.singularValues()(0), s2 = svd.singularValues()(1);
      const VectorD r = router.row(a.expert).transpose().cast<double>();
      ASSERT_EQ(a.status, DirectionStatus::Ok);
      EXPECT_NEAR(a.sigma1, s1, 1e-5 * s1);
      EXPECT_NEAR(a.sigma2, s2, 1e-5 * s1);
      EXPECT_NEAR(a.gap_ratio, s2 / s1, 1e-5);
      EXPECT_NEAR(a.cos, std::abs(r.dot(v1)) / r.norm(), 1e-5);
      EXPECT_NEAR(a.lambda, (g * r).norm() / (r.norm() * s1), 1e-5);
      EXPECT_NEAR(a.router_norm, r.norm(), 1e-6 * r.norm());
      EXPECT_GE(std::abs(a.u1.cast<double>().dot(v1)), 1.0 - 1e-6);
      cosines.push_back(std::abs(r.dot(v1)) / r.norm());
    }
    double mean = 0;
    for (double c : cosines)
      mean += c;
    EXPECT_NEAR(la.cos.mean, mean / static_cast<double>(cosines.size()), 1e-5);
    EXPECT_EQ(la.cos.count, static_cast<int>(cosines.size()));
  }
}

TEST(AlignModel, GateDirectionsMatchExactSvd) {
  auto model = test::InMemoryModel::random(2, 5, 48, 24, 2, 42);
  AlignOptions o;
  o.threads = 1;
  auto out = align_model(model, o);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].layer, 0);
  EXPECT_EQ(out[1].layer, 1);
  expect_matches_svd(model, out, ExpertMatrix::Gate);
}

TEST(AlignModel, DownUsesTransposeOfStoredMatrix) {
  auto model = test::InMemoryModel::random(1, 4, 40, 20, 2, 7);
  // Give each down matrix a planted gap so that its direction is well defined.
  for (int e = 0; e < 4; ++e)
    model.layer_data(0).experts[static_cast<size_t>(e)].down =
        test::planted_matrix(40, 20, test::gapped_spectrum(20, 0.7), 300 + e).g;
  AlignOptions o;
  o.matrix = ExpertMatrix::Down;
  o.spectral.method = SpectralMethod::Power;
  o.threads = 2;
  expect_matches_svd(model, align_model(model, o), ExpertMatrix::Down);
}

TEST(AlignModel, DenseLayerRequestIsBadInput) {
  auto base = test::InMemoryModel::random(1, 3, 16, 8, 1, 1);
  ModelInfo info = base.info();
  LayerInfo dense;
  dense.layer = 1;
  dense.moe = false;
  info.layers.push_back(dense);
  std::map<int, test::InMemoryModel::Layer> layers;
  layers.emplace(0, base.layer_data(0));
  test::InMemoryModel model(info, layers);
  AlignOptions o;
  o.layers = {1};
  try {
    align_model(model, o);
    FAIL() << "expected BadInput";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("dense"), std::string::npos) << e.what();
  }
  o.layers = {};
  EXPECT_EQ(align_model(model, o).size(), 1u); // default: MoE layers only
}

TEST(AlignModel, OneAndTwoThreadsGiveIdenticalResults) {
  auto model = test::InMemoryModel::random(1, 7, 32, 16, 2, 99);
  AlignOptions o;
  o.threads = 1;
  auto a = align_model(model, o);
  o.threads = 2;
  auto b = align_model(model, o);
  ASSERT_EQ(a.size(), b.size());
  for (size_t l = 0; l < a.size(); ++l) {
    ASSERT_EQ(a[l].experts.size(), b[l].experts.size());
    for (size_t e = 0; e < a[l].experts.size(); ++e) {
      const auto &x = a[l].experts[e], &y = b[l].experts[e];
      EXPECT_EQ(x.expert, y.expert);
      EXPECT_EQ(x.cos, y.cos);
      EXPECT_EQ(x.lambda, y.lambda);
      EXPECT_EQ(x.sigma1, y.sigma1);
      EXPECT_EQ(x.sigma2, y.sigma2);
      EXPECT_EQ(x.status, y.status);
      EXPECT_EQ(x.u1, y.u1);
    }
    EXPECT_EQ(a[l].lambda.mean, b[l].lambda.mean);
    EXPECT_EQ(a[l].cos.p95, b[l].cos.p95);
  }
}

} // namespace
} // namespace routerscope
