#include "core/load_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace routerscope {
namespace {

IndexMatrix selections(std::initializer_list<std::initializer_list<int>> rows) {
  IndexMatrix m(Eigen::Index(rows.size()), Eigen::Index(rows.begin()->size()));
  int t = 0;
  for (auto r : rows) {
    int j = 0;
    for (int e : r)
      m(t, j++) = e;
    ++t;
  }
  return m;
}

TEST(LoadMetrics, CountsSlotsWithDeadExpert) {
  // 4 tokens, k = 2, N = 4: loads 3, 3, 2, 0 (expert 3 dead).
  IndexMatrix sel = selections({{0, 1}, {1, 0}, {0, 2}, {2, 1}});
  VectorD loads = expert_loads(sel, 4);
  EXPECT_EQ(loads, (VectorD(4) << 3, 3, 2, 0).finished());
  EXPECT_EQ(dead_experts(loads), 1);
  // L̄ = T·k/N = 2; MaxVio = (3 − 2)/2
  EXPECT_DOUBLE_EQ(max_vio(loads), 0.5);
  EXPECT_DOUBLE_EQ(load_imbalance(loads), 1.5);
  // population std: deviations 1, 1, 0, −2 -> var 6/4
  EXPECT_NEAR(load_cv(loads), std::sqrt(1.5) / 2, 1e-12);
  // shares 3/8, 3/8, 2/8, 0
  double h = -(2 * 0.375 * std::log(0.375) + 0.25 * std::log(0.25));
  EXPECT_NEAR(load_entropy(loads), h / std::log(4.0), 1e-12);
}

TEST(LoadMetrics, KEqualsNIsPerfectlyBalanced) {
  IndexMatrix sel = selections({{2, 0, 1}, {0, 1, 2}});
  VectorD loads = expert_loads(sel, 3);
  EXPECT_DOUBLE_EQ(max_vio(loads), 0.0);
  EXPECT_DOUBLE_EQ(load_cv(loads), 0.0);
  EXPECT_NEAR(load_entropy(loads), 1.0, 1e-12);
  EXPECT_EQ(dead_experts(loads), 0);
}

TEST(LoadMetrics, AllTokensOnOneExpert) {
  IndexMatrix sel = selections({{1}, {1}, {1}});
  VectorD loads = expert_loads(sel, 3);
  EXPECT_DOUBLE_EQ(max_vio(loads), 2.0); // (3 − 1)/1
  EXPECT_DOUBLE_EQ(load_entropy(loads), 0.0);
  EXPECT_EQ(dead_experts(loads), 2);
}

TEST(LoadMetrics, SwitchLossOfHandComputedCase) {
  // T = 2, k = 1, N = 2: f = (1/2, 1/2); P = mean of probs = (0.65, 0.35).
  VectorD loads(2);
  loads << 1, 1;
  MatrixF probs(2, 2);
  probs << 0.9f, 0.1f, 0.4f, 0.6f;
  EXPECT_NEAR(switch_lb_loss(loads, probs, 0.01), 0.01 * 2 * (0.5 * 0.65 + 0.5 * 0.35), 1e-8);
  // Uniform routing and uniform probabilities give α exactly.
  MatrixF uniform = MatrixF::Constant(2, 2, 0.5f);
  EXPECT_NEAR(switch_lb_loss(loads, uniform, 0.01), 0.01, 1e-9);
}

TEST(LoadMetrics, ZLossIsMeanSquaredLogSumExp) {
  MatrixF z(2, 2);
  z << 0, 0, 1, 2;
  double l0 = std::log(2.0), l1 = std::log(std::exp(1.0) + std::exp(2.0));
  EXPECT_NEAR(router_z_loss(z), (l0 * l0 + l1 * l1) / 2, 1e-6);
}

TEST(LoadMetrics, NonFiniteLoadsGiveNaN) {
  VectorD loads(4);
  loads << 3, std::nan(""), 1, 0;
  EXPECT_TRUE(std::isnan(max_vio(loads)));
  EXPECT_TRUE(std::isnan(load_imbalance(loads)));
  EXPECT_TRUE(std::isnan(load_cv(loads)));
  EXPECT_TRUE(std::isnan(load_entropy(loads)));
  loads(1) = INFINITY;
  EXPECT_TRUE(std::isnan(max_vio(loads)));
  EXPECT_TRUE(std::isnan(load_entropy(loads)));
}

} // namespace
} // namespace routerscope
