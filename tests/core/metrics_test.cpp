#include "core/error.h"
#include "core/metrics.h"
#include "tests/support/test_support.h"

#include <Eigen/SVD>
#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <vector>

namespace routerscope {
namespace {

TEST(AbsCos, HandCasesAreSignFreeAndZeroSafe) {
  VectorF a(2), b(2), c(2), z = VectorF::Zero(2);
  a << 1, 0;
  b << 1, 1;
  c << -3, 0;
  EXPECT_NEAR(abs_cos(a, b), 1.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(abs_cos(a, c), 1.0, 1e-12);
  EXPECT_EQ(abs_cos(a, z), 0.0);
  EXPECT_THROW(abs_cos(a, VectorF::Ones(3)), Error);
}

TEST(AbsCos, MatchesDoubleRecomputation) {
  MatrixF m = test::random_matrix(2, 300, 17);
  VectorF a = m.row(0).transpose(), b = m.row(1).transpose();
  double dot = 0, na = 0, nb = 0;
  for (int i = 0; i < 300; ++i) {
    dot += double(a(i)) * double(b(i));
    na += double(a(i)) * double(a(i));
    nb += double(b(i)) * double(b(i));
  }
  EXPECT_NEAR(abs_cos(a, b), std::abs(dot) / std::sqrt(na * nb), 1e-12);
}

TEST(AlignmentLambda, OneAlongU1AndSigmaRatioAlongOtherSingularVectors) {
  const std::vector<double> sigma = {3.0, 2.0, 1.5, 0.5};
  test::Planted p = test::planted_matrix(20, 40, sigma, 12);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(p.g.cast<double>().eval(), Eigen::ComputeThinV);
  const double s1 = svd.singularValues()(0);
  for (int j = 0; j < 4; ++j) {
    VectorF r = (2.5 * svd.matrixV().col(j)).cast<float>(); // the norm of r does not matter
    EXPECT_NEAR(alignment_lambda(r, p.g, s1), sigma[static_cast<size_t>(j)] / sigma[0], 1e-6)
        << "v" << j + 1;
  }
  // A direction in the null space of G gives 0.
  VectorD null = VectorD::Random(40);
  null -= svd.matrixV() * (svd.matrixV().transpose() * null);
  EXPECT_NEAR(alignment_lambda(null.cast<float>(), p.g, s1), 0.0, 1e-6);
}

TEST(AlignmentLambda, MatchesDoubleRecomputationAndRejectsWrongLength) {
  MatrixF g = test::random_matrix(16, 32, 4);
  VectorF r = test::random_matrix(32, 1, 5).col(0);
  const double sigma1 = 7.25;
  double gr2 = 0, r2 = 0;
  for (int i = 0; i < 16; ++i) {
    double t = 0;
    for (int j = 0; j < 32; ++j)
      t += double(g(i, j)) * double(r(j));
    gr2 += t * t;
  }
  for (int j = 0; j < 32; ++j)
    r2 += double(r(j)) * double(r(j));
  EXPECT_NEAR(alignment_lambda(r, g, sigma1), std::sqrt(gr2) / (std::sqrt(r2) * sigma1), 1e-12);
  EXPECT_EQ(alignment_lambda(VectorF::Zero(32), g, sigma1), 0.0);
  EXPECT_THROW(alignment_lambda(VectorF::Ones(16), g, sigma1), Error);
}

TEST(Summarize, HandComputedPercentilesSkipNonFinite) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {3, 1, nan, 2, 10, inf};
  Summary s = summarize(v);
  // finite, sorted: 1 2 3 10. p50 at position 1.5 -> 2.5; p95 at 2.85 -> 3 + 0.85·7 = 8.95.
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 4.0);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 10.0);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_NEAR(s.p95, 8.95, 1e-12);
}

TEST(Summarize, SortedArrayFormulaOnRandomValues) {
  MatrixF m = test::random_matrix(1, 37, 3);
  std::vector<double> v(37);
  for (int i = 0; i < 37; ++i)
    v[static_cast<size_t>(i)] = m(0, i);
  Summary s = summarize(v);
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  // numpy "linear": index (n-1)q = 36q; q = 0.5 -> 18 exactly, q = 0.95 -> 34.2.
  EXPECT_DOUBLE_EQ(s.p50, sorted[18]);
  EXPECT_NEAR(s.p95, sorted[34] + 0.2 * (sorted[35] - sorted[34]), 1e-12);
  double sum = 0;
  for (double x : v)
    sum += x;
  EXPECT_NEAR(s.mean, sum / 37.0, 1e-12);
  EXPECT_EQ(s.min, sorted.front());
  EXPECT_EQ(s.max, sorted.back());
}

TEST(Summarize, SingleAndEmpty) {
  std::vector<double> one = {4.5};
  Summary s = summarize(one);
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.p50, 4.5);
  EXPECT_EQ(s.p95, 4.5);
  Summary e = summarize(std::vector<double>{std::nan("")});
  EXPECT_EQ(e.count, 0);
  EXPECT_TRUE(std::isnan(e.mean));
}

// std::min(1.0, NaN) is 1.0: a NaN router row must not read as perfectly aligned.
TEST(AbsCos, NonFiniteInputIsNaNNeverOne) {
  VectorF a(3), b(3);
  a << 1, 2, 3;
  b << 1, 2, 3;
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    VectorF c = a;
    c(1) = bad;
    EXPECT_TRUE(std::isnan(abs_cos(c, b))) << bad;
    EXPECT_TRUE(std::isnan(abs_cos(b, c))) << bad;
    MatrixF g = MatrixF::Identity(3, 3);
    EXPECT_TRUE(std::isnan(alignment_lambda(c, g, 1.0))) << bad;
  }
  MatrixF g = MatrixF::Identity(3, 3);
  EXPECT_TRUE(std::isnan(alignment_lambda(a, g, std::nan(""))));
  EXPECT_NEAR(abs_cos(a, b), 1.0, 1e-12); // a finite input still works
}

} // namespace
} // namespace routerscope
