#include "core/error.h"
#include "core/mpi.h"
#include "tests/support/mpi_oracle.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>

namespace routerscope {
namespace {

using test::mpi_oracle;

struct Layer {
  MatrixF r;
  std::vector<MatrixF> g;
  std::vector<MatrixD> gd;
};

Layer make_layer(int n, int d_model, int d, std::uint64_t seed) {
  Layer l;
  l.r = test::random_matrix(n, d_model, seed, 0.3f);
  for (int i = 0; i < n; ++i) {
    l.g.push_back(test::random_matrix(d, d_model, seed + 100 + std::uint64_t(i), 0.4f));
    l.gd.push_back(l.g.back().cast<double>());
  }
  return l;
}

std::vector<MpiSettings> all_settings() {
  std::vector<MpiSettings> out;
  for (auto a : {MpiSettings::Ablation::None, MpiSettings::Ablation::NoPower,
                 MpiSettings::Ablation::NoRetract})
    for (int k : {1, 3}) {
      MpiSettings s;
      s.ablation = a;
      s.power_steps = k;
      s.c_prime = 3.0;
      out.push_back(s);
    }
  MpiSettings sig;
  sig.scoring = Scoring::Sigmoid;
  out.push_back(sig);
  return out;
}

TEST(MpiTransform, MatchesFloat64Oracle) {
  Layer l = make_layer(5, 12, 7, 1);
  for (const auto& s : all_settings()) {
    MatrixD want = mpi_oracle(l.r.cast<double>(), l.gd, s);
    MatrixF got = mpi_router(l.r, l.g, s);
    double scale = want.cwiseAbs().maxCoeff();
    EXPECT_LT((got.cast<double>() - want).cwiseAbs().maxCoeff(), 2e-5 * scale)
        << to_string(s.ablation) << " k=" << s.power_steps;
  }
}

TEST(MpiTransform, RetractedRowsHaveRadiusCPrimeOverSqrtN) {
  Layer l = make_layer(9, 10, 6, 2);
  MpiSettings s;
  MatrixF got = mpi_router(l.r, l.g, s);
  for (Eigen::Index i = 0; i < got.rows(); ++i)
    EXPECT_NEAR(got.row(i).norm(), 4.0 / 3.0, 1e-5);
}

TEST(MpiTransform, PreRetractionNormIsNormOfPowerStep) {
  Layer l = make_layer(4, 8, 5, 3);
  MpiSettings s;
  s.power_steps = 2;
  VectorD norms = mpi_pre_retraction_norms(l.r, l.g, s);
  for (int i = 0; i < 4; ++i) {
    Eigen::MatrixXd m = l.gd[size_t(i)].transpose() * l.gd[size_t(i)];
    Eigen::VectorXd v = m * (m * l.r.row(i).transpose().cast<double>());
    EXPECT_NEAR(norms(i), v.norm(), 1e-5 * v.norm());
  }
}

TEST(MpiTransform, RejectsRowInNullSpace) {
  Layer l = make_layer(2, 6, 3, 4);
  l.r.row(1).setZero();
  EXPECT_THROW(mpi_router(l.r, l.g, MpiSettings{}), Error);
}

TEST(MpiBackward, MatchesCentralFiniteDifferencesOfOracle) {
  Layer l = make_layer(4, 9, 6, 5);
  MatrixF w = test::random_matrix(4, 9, 77, 1.0f); // L = Σ W ⊙ R′, so dL/dR′ = W
  for (const auto& s : all_settings()) {
    MatrixF grad = mpi_backward(l.r, l.g, s, w);
    MatrixD r = l.r.cast<double>();
    const double h = 1e-6;
    for (Eigen::Index i = 0; i < r.rows(); ++i)
      for (Eigen::Index j = 0; j < r.cols(); ++j) {
        MatrixD plus = r, minus = r;
        plus(i, j) += h;
        minus(i, j) -= h;
        double fd = ((mpi_oracle(plus, l.gd, s) - mpi_oracle(minus, l.gd, s))
                         .cwiseProduct(w.cast<double>()))
                        .sum() /
                    (2 * h);
        EXPECT_NEAR(grad(i, j), fd, 1e-4 * (1 + std::abs(fd)))
            << to_string(s.ablation) << " k=" << s.power_steps << " at " << i << "," << j;
      }
  }
}

TEST(MpiSettings, ParsesAblationNames) {
  EXPECT_EQ(parse_ablation("no-power"), MpiSettings::Ablation::NoPower);
  EXPECT_EQ(parse_ablation("no-retract"), MpiSettings::Ablation::NoRetract);
  EXPECT_EQ(parse_ablation("none"), MpiSettings::Ablation::None);
  EXPECT_THROW(parse_ablation("nopower"), Error);
}

} // namespace
} // namespace routerscope
