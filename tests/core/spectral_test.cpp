#include "core/error.h"
#include "core/spectral.h"
#include "tests/support/test_support.h"

#include <Eigen/SVD>
#include <gtest/gtest.h>
#include <limits>
#include <string>

namespace routerscope {
namespace {

double cos_d(const VectorF& a, const VectorD& b) {
  const VectorD ad = a.cast<double>();
  return std::abs(ad.dot(b)) / (ad.norm() * b.norm());
}

// Independent oracle: two-sided Jacobi SVD in double of the float matrix.
struct Oracle {
  VectorD v1;
  double s1 = 0, s2 = 0;
};
Oracle jacobi(const MatrixF& g) {
  Eigen::MatrixXd gd = g.cast<double>();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(gd, Eigen::ComputeThinV);
  Oracle o;
  o.v1 = svd.matrixV().col(0);
  o.s1 = svd.singularValues()(0);
  o.s2 = svd.singularValues().size() > 1 ? svd.singularValues()(1) : 0.0;
  return o;
}

SpectralOptions with(SpectralMethod m) {
  SpectralOptions o;
  o.method = m;
  return o;
}

TEST(SpectralMethodNames, RoundTripAndRejectUnknown) {
  for (auto m : {SpectralMethod::Exact, SpectralMethod::Lanczos, SpectralMethod::Power})
    EXPECT_EQ(parse_spectral_method(to_string(m)), m);
  try {
    parse_spectral_method("svd");
    FAIL() << "expected BadInput";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("svd"), std::string::npos);
    EXPECT_NE(msg.find("exact, lanczos or power"), std::string::npos) << msg;
  }
  EXPECT_EQ(SpectralOptions{}.method, SpectralMethod::Lanczos);
}

struct Shape {
  int rows, cols;
};

class PlantedGap : public ::testing::TestWithParam<SpectralMethod> {};

TEST_P(PlantedGap, DirectionAndSigmasMatchConstructionAndExact) {
  const SpectralMethod method = GetParam();
  std::uint64_t seed = 11;
  for (Shape s : {Shape{48, 96}, Shape{96, 40}, Shape{64, 64}, Shape{30, 200}}) {
    for (double ratio : {0.5, 0.7, 0.85, 0.95}) {
      SCOPED_TRACE(std::to_string(s.rows) + "x" + std::to_string(s.cols) + " ratio " +
                   std::to_string(ratio));
      const int count = std::min(s.rows, s.cols);
      test::Planted p =
          test::planted_matrix(s.rows, s.cols, test::gapped_spectrum(count, ratio), seed++);
      PrincipalDirection pd = principal_direction(p.g, with(method));
      ASSERT_EQ(pd.status, DirectionStatus::Ok);
      ASSERT_EQ(pd.u1.size(), s.cols);
      EXPECT_NEAR(pd.u1.norm(), 1.0, 1e-6);
      EXPECT_GE(cos_d(pd.u1, p.v1), 1.0 - 1e-6);
      EXPECT_NEAR(pd.sigma1, p.sigma[0], 1e-5 * p.sigma[0]);
      EXPECT_NEAR(pd.sigma2, p.sigma[1], 1e-5 * p.sigma[0]);
      PrincipalDirection ex = principal_direction(p.g, with(SpectralMethod::Exact));
      ASSERT_EQ(ex.status, DirectionStatus::Ok);
      EXPECT_GE(cos_d(pd.u1, ex.u1.cast<double>()), 1.0 - 1e-6);
      if (method != SpectralMethod::Exact) {
        EXPECT_GT(pd.iterations, 0);
      }
    }
  }
}

TEST_P(PlantedGap, SignPutsLargestEntryPositive) {
  test::Planted p = test::planted_matrix(40, 60, test::gapped_spectrum(40, 0.6), 5);
  for (double flip : {1.0, -1.0}) {
    MatrixF g = p.g * static_cast<float>(flip); // same u₁ up to sign
    PrincipalDirection pd = principal_direction(g, with(GetParam()));
    ASSERT_EQ(pd.status, DirectionStatus::Ok);
    Eigen::Index k = 0;
    pd.u1.cwiseAbs().maxCoeff(&k);
    EXPECT_GT(pd.u1(k), 0.0f);
    // The sign convention applied to the planted v₁ gives the same vector.
    VectorD v = p.v1;
    Eigen::Index kv = 0;
    v.cwiseAbs().maxCoeff(&kv);
    if (v(kv) < 0)
      v = -v;
    EXPECT_LT((pd.u1.cast<double>() - v).norm(), 1e-3);
  }
}

TEST_P(PlantedGap, EqualTopSingularValuesAreDegenerate) {
  std::vector<double> sigma = {2.0, 2.0, 1.0, 0.5, 0.25};
  test::Planted p = test::planted_matrix(50, 70, sigma, 3);
  PrincipalDirection pd = principal_direction(p.g, with(GetParam()));
  EXPECT_EQ(pd.status, DirectionStatus::Degenerate);
  EXPECT_EQ(pd.u1.size(), 0);
  EXPECT_NEAR(pd.sigma1, 2.0, 1e-4);
  EXPECT_NEAR(pd.sigma2, 2.0, 1e-4);
}

TEST_P(PlantedGap, ZeroAndNonFiniteMatricesAreReported) {
  MatrixF zero = MatrixF::Zero(20, 30);
  EXPECT_EQ(principal_direction(zero, with(GetParam())).status, DirectionStatus::Zero);
  EXPECT_EQ(principal_direction(MatrixF(0, 30), with(GetParam())).status, DirectionStatus::Zero);
  MatrixF g = test::random_matrix(20, 30, 9);
  g(7, 11) = std::numeric_limits<float>::quiet_NaN();
  PrincipalDirection nan = principal_direction(g, with(GetParam()));
  EXPECT_EQ(nan.status, DirectionStatus::NonFinite);
  EXPECT_EQ(nan.u1.size(), 0);
  g(7, 11) = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(principal_direction(g, with(GetParam())).status, DirectionStatus::NonFinite);
}

TEST_P(PlantedGap, SingleRowGivesTheRowItself) {
  MatrixF g = test::random_matrix(1, 25, 4);
  PrincipalDirection pd = principal_direction(g, with(GetParam()));
  ASSERT_EQ(pd.status, DirectionStatus::Ok);
  const VectorD row = g.row(0).transpose().cast<double>();
  EXPECT_GE(cos_d(pd.u1, row), 1.0 - 1e-9);
  EXPECT_NEAR(pd.sigma1, row.norm(), 1e-5 * row.norm());
  EXPECT_NEAR(pd.sigma2, 0.0, 1e-5 * row.norm());
}

INSTANTIATE_TEST_SUITE_P(Methods, PlantedGap,
                         ::testing::Values(SpectralMethod::Exact, SpectralMethod::Lanczos,
                                           SpectralMethod::Power),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(ExactSpectral, MatchesJacobiSvdOnGaussianMatrices) {
  for (Shape s : {Shape{30, 50}, Shape{50, 30}, Shape{40, 40}}) {
    MatrixF g = test::random_matrix(s.rows, s.cols, 100 + static_cast<std::uint64_t>(s.rows));
    Oracle o = jacobi(g);
    PrincipalDirection pd = principal_direction(g, with(SpectralMethod::Exact));
    ASSERT_EQ(pd.status, DirectionStatus::Ok);
    const double gap = (o.s1 - o.s2) / o.s1;
    ASSERT_GT(gap, 1e-3); // random matrices of this size have a clear top gap
    EXPECT_GE(cos_d(pd.u1, o.v1), 1.0 - 1e-12);
    EXPECT_NEAR(pd.sigma1, o.s1, 1e-10 * o.s1);
    EXPECT_NEAR(pd.sigma2, o.s2, 1e-10 * o.s1);
  }
}

TEST(IterativeSpectral, MatchesJacobiSvdOnGaussianMatrices) {
  MatrixF g = test::random_matrix(60, 90, 77);
  Oracle o = jacobi(g);
  const double ratio = o.s2 / o.s1;
  ASSERT_LT(ratio, 0.97);
  for (auto m : {SpectralMethod::Lanczos, SpectralMethod::Power}) {
    PrincipalDirection pd = principal_direction(g, with(m));
    ASSERT_EQ(pd.status, DirectionStatus::Ok) << to_string(m);
    EXPECT_GE(cos_d(pd.u1, o.v1), 1.0 - 1e-6) << to_string(m);
    EXPECT_NEAR(pd.sigma1, o.s1, 1e-5 * o.s1) << to_string(m);
    EXPECT_NEAR(pd.sigma2, o.s2, 1e-5 * o.s1) << to_string(m);
  }
}

TEST(IterativeSpectral, SpentBudgetIsNotConverged) {
  test::Planted p = test::planted_matrix(60, 80, test::gapped_spectrum(60, 0.99, 0.999), 8);
  for (auto m : {SpectralMethod::Lanczos, SpectralMethod::Power}) {
    SpectralOptions o = with(m);
    o.max_iterations = 3;
    o.tolerance = 1e-10;
    PrincipalDirection pd = principal_direction(p.g, o);
    EXPECT_EQ(pd.status, DirectionStatus::NotConverged) << to_string(m);
    EXPECT_EQ(pd.u1.size(), 0) << to_string(m);
  }
}

TEST(IterativeSpectral, KrylovDimensionDoesNotChangeTheAnswer) {
  test::Planted p = test::planted_matrix(64, 128, test::gapped_spectrum(64, 0.9), 21);
  for (int ncv : {4, 8, 20, 40}) {
    SpectralOptions o;
    o.krylov_dim = ncv;
    PrincipalDirection pd = principal_direction(p.g, o);
    ASSERT_EQ(pd.status, DirectionStatus::Ok) << ncv;
    EXPECT_GE(cos_d(pd.u1, p.v1), 1.0 - 1e-6) << ncv;
  }
}

TEST(SpectralOptionsCheck, RejectsBadOptionsAndEmptyColumns) {
  SpectralOptions o;
  o.tolerance = 0;
  EXPECT_THROW(principal_direction(test::random_matrix(4, 4, 1), o), Error);
  EXPECT_THROW(principal_direction(MatrixF(3, 0)), Error);
  EXPECT_DOUBLE_EQ(degenerate_gap_threshold(with(SpectralMethod::Exact)), kDegenerateFloor);
  o.tolerance = 1e-3;
  EXPECT_DOUBLE_EQ(degenerate_gap_threshold(o), 1e-2);
}

} // namespace
} // namespace routerscope
