#include "core/mpi_convergence.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>

namespace routerscope {
namespace {

struct PlantedLayer {
  MatrixF r;
  std::vector<MatrixF> g;
  std::vector<test::Planted> planted;
};

PlantedLayer planted_layer(int n, int d_model, int d, std::vector<double> ratios) {
  PlantedLayer l;
  l.r = test::random_matrix(n, d_model, 5, 1.0f);
  for (int i = 0; i < n; ++i) {
    l.planted.push_back(test::planted_matrix(
        d, d_model, test::gapped_spectrum(d, ratios[size_t(i) % ratios.size()], 0.9),
        100 + std::uint64_t(i)));
    l.g.push_back(l.planted.back().g);
  }
  return l;
}

TEST(MpiConvergence, ObservedAngleObeysPowerIterationBound) {
  PlantedLayer l = planted_layer(4, 16, 10, {0.5, 0.8, 0.9, 0.95});
  ConvergenceSettings s;
  s.steps = 12;
  s.spectral.method = SpectralMethod::Exact;
  LayerConvergence c = converge_layer(3, l.r, l.g, s);
  ASSERT_EQ(c.rows.size(), 13u);
  for (int i = 0; i < 4; ++i) {
    const auto& p = l.planted[size_t(i)];
    const double ratio = p.sigma[1] / p.sigma[0];
    Eigen::VectorXd r0 = l.r.row(i).transpose().cast<double>();
    double c0 = std::abs(r0.dot(p.v1)) / r0.norm();
    double tan0 = std::sqrt(1 - c0 * c0) / c0;
    for (int t = 0; t <= s.steps; ++t) {
      // Independent oracle: the planted v₁ and σ's, not the solver's.
      const auto& row = c.rows[size_t(t)];
      double bound = std::pow(ratio, 2.0 * t) * tan0;
      EXPECT_LE(row.tan_theta(i), bound * (1 + 1e-3) + 1e-3) << "expert " << i << " step " << t;
      EXPECT_NEAR(row.tan_bound(i), bound, 1e-3 * bound + 1e-9);
    }
  }
}

TEST(MpiConvergence, LambdaNeverDecreasesAndRowsAreRetracted) {
  PlantedLayer l = planted_layer(5, 12, 8, {0.6, 0.9});
  ConvergenceSettings s;
  s.steps = 8;
  LayerConvergence c = converge_layer(0, l.r, l.g, s);
  for (int i = 0; i < 5; ++i)
    for (int t = 1; t <= s.steps; ++t) {
      EXPECT_GE(c.rows[size_t(t)].lambda(i), c.rows[size_t(t) - 1].lambda(i) - 1e-6);
      EXPECT_NEAR(c.rows[size_t(t)].router_norm(i), 4.0 / std::sqrt(5.0), 1e-5);
    }
  // Row 0 is the input router itself.
  EXPECT_NEAR(c.rows[0].router_norm(2), l.r.row(2).norm(), 1e-5);
  EXPECT_TRUE(std::isnan(c.rows[0].pre_norm(0)));
}

TEST(MpiConvergence, PreRetractionNormIsRayleighGrowth) {
  PlantedLayer l = planted_layer(2, 10, 6, {0.5});
  ConvergenceSettings s;
  s.steps = 30;
  LayerConvergence c = converge_layer(0, l.r, l.g, s);
  // After convergence ‖GᵀG R_t‖ → σ₁²·C with σ₁ = 1 (planted), C = 4/√2.
  EXPECT_NEAR(c.rows.back().pre_norm(0), 4.0 / std::sqrt(2.0), 1e-4);
  EXPECT_NEAR(c.rows.back().cos(1), 1.0, 1e-5);
}

TEST(MpiConvergence, RunsEveryMoeLayerOfAModel) {
  auto model = test::InMemoryModel::random(2, 3, 8, 6, 2, 9);
  ConvergenceSettings s;
  s.steps = 2;
  int rows = 0;
  auto out =
      mpi_convergence(model, s, [&](const LayerConvergence&, const ConvergenceRow&) { ++rows; });
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(rows, 6);
  EXPECT_EQ(out[1].layer, 1);
}

// Without retraction a row scales by ~σ₁² per step: in float it underflows to zero for σ₁ ≈ 0.05
// within 20 steps (|cos| would read 0) and overflows for σ₁ ≈ 3 within 60 steps (|cos| NaN or 1
// by accident). Oracle: the same power iteration in float64 with the scale kept in log form.
TEST(MpiConvergence, NoRetractRowsNeitherUnderflowNorOverflow) {
  for (double sigma1 : {0.05, 3.0}) {
    SCOPED_TRACE("sigma1 " + std::to_string(sigma1));
    const int n = 3, d_model = 12, d = 8, steps = sigma1 < 1 ? 20 : 60;
    MatrixF r = test::random_matrix(n, d_model, 5, 1.0f);
    std::vector<MatrixF> g;
    std::vector<test::Planted> planted;
    for (int i = 0; i < n; ++i) {
      std::vector<double> sig = test::gapped_spectrum(d, 0.7, 0.9);
      for (double& v : sig)
        v *= sigma1;
      planted.push_back(test::planted_matrix(d, d_model, sig, 300 + std::uint64_t(i)));
      g.push_back(planted.back().g);
    }
    ConvergenceSettings s;
    s.steps = steps;
    s.mpi.ablation = MpiSettings::Ablation::NoRetract;
    s.spectral.method = SpectralMethod::Exact;
    LayerConvergence c = converge_layer(0, r, g, s);
    ASSERT_EQ(c.rows.size(), size_t(steps + 1));
    for (int i = 0; i < n; ++i) {
      const MatrixD gd = g[size_t(i)].cast<double>();
      Eigen::VectorXd v = r.row(i).transpose().cast<double>();
      double log_norm = std::log(v.norm());
      v /= v.norm();
      for (int t = 1; t <= steps; ++t) {
        v = gd.transpose() * (gd * v);
        log_norm += std::log(v.norm());
        v /= v.norm();
        const auto& row = c.rows[size_t(t)];
        const double want_cos = std::abs(v.dot(planted[size_t(i)].v1));
        ASSERT_TRUE(std::isfinite(row.cos(i))) << "expert " << i << " step " << t;
        EXPECT_NEAR(row.cos(i), want_cos, 1e-4) << "expert " << i << " step " << t;
        EXPECT_NEAR(std::log(row.router_norm(i)), log_norm, 1e-3)
            << "expert " << i << " step " << t;
      }
      EXPECT_GT(c.rows.back().cos(i), 0.99) << "expert " << i;
    }
  }
}

// Within-bound check: relative slack 1e-3 and a floor of 8·ε_float; NaN is never within.
TEST(MpiConvergence, WithinBoundUsesFloatFloorNotAbsoluteMilli) {
  EXPECT_TRUE(within_bound(1.0005, 1.0));
  EXPECT_FALSE(within_bound(1.002, 1.0));
  EXPECT_TRUE(within_bound(5e-7, 1e-12)); // below the float floor: rounding, within
  EXPECT_FALSE(within_bound(5e-4, 1e-6)); // the old absolute 1e-3 slack called this within
  EXPECT_FALSE(within_bound(std::nan(""), 1.0));
  EXPECT_FALSE(within_bound(0.1, std::nan("")));
}

// A router row that is not finite has no angle: |cos|, λ and tan θ are NaN, never 1 / 0.
TEST(MpiConvergence, NonFiniteRouterRowReportsNaN) {
  PlantedLayer l = planted_layer(2, 10, 6, {0.5});
  l.r(1, 3) = std::nanf("");
  ConvergenceSettings s;
  s.steps = 0;
  LayerConvergence c = converge_layer(0, l.r, l.g, s);
  EXPECT_TRUE(std::isnan(c.rows[0].cos(1)));
  EXPECT_TRUE(std::isnan(c.rows[0].lambda(1)));
  EXPECT_TRUE(std::isnan(c.rows[0].tan_theta(1)));
  EXPECT_FALSE(within_bound(c.rows[0].tan_theta(1), c.rows[0].tan_bound(1)));
  EXPECT_TRUE(std::isfinite(c.rows[0].cos(0)));
}

} // namespace
} // namespace routerscope
