#include "core/error.h"
#include "core/routing.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace routerscope {
namespace {

// Identity router: logits = x (D = N), so each case states its logits directly.
Routing route_logits(std::vector<float> z, const RoutingRule& rule, int k,
                     std::vector<float> bias = {}) {
  const int n = int(z.size());
  MatrixF x = Eigen::Map<MatrixF>(z.data(), 1, n);
  VectorF b = bias.empty() ? VectorF() : Eigen::Map<VectorF>(bias.data(), n);
  return route_tokens(x, MatrixF::Identity(n, n), b, rule, k);
}

double sig(double z) {
  return 1 / (1 + std::exp(-z));
}

TEST(Routing, SoftmaxTopkTieGoesToLowerIndex) {
  RoutingRule rule;
  Routing r = route_logits({1, 2, 2, 0}, rule, 1);
  EXPECT_EQ(r.experts(0, 0), 1);
  double denom = std::exp(1) + 2 * std::exp(2) + 1;
  EXPECT_NEAR(r.weights(0, 0), std::exp(2) / denom, 1e-6);
  Routing r2 = route_logits({1, 2, 2, 0}, rule, 2);
  EXPECT_EQ(r2.experts(0, 0), 1);
  EXPECT_EQ(r2.experts(0, 1), 2);
}

TEST(Routing, RenormalizeDividesSelectedWeightsBySum) {
  RoutingRule rule;
  rule.renormalize = true;
  Routing r = route_logits({0, 1, 3, 2}, rule, 2);
  EXPECT_EQ(r.experts(0, 0), 2);
  EXPECT_EQ(r.experts(0, 1), 3);
  // p2/(p2+p3) = e³/(e³+e²)
  EXPECT_NEAR(r.weights(0, 0), std::exp(3) / (std::exp(3) + std::exp(2)), 1e-6);
  EXPECT_NEAR(r.weights(0, 1), std::exp(2) / (std::exp(3) + std::exp(2)), 1e-6);
  rule.renormalize = false;
  Routing plain = route_logits({0, 1, 3, 2}, rule, 2);
  double denom = 1 + std::exp(1) + std::exp(3) + std::exp(2);
  EXPECT_NEAR(plain.weights(0, 0), std::exp(3) / denom, 1e-6);
}

TEST(Routing, KEqualsNSelectsAllAndRenormGivesProbabilities) {
  RoutingRule rule;
  rule.renormalize = true;
  Routing r = route_logits({0.5f, -1, 2}, rule, 3);
  EXPECT_EQ(r.experts(0, 0), 2);
  EXPECT_EQ(r.experts(0, 1), 0);
  EXPECT_EQ(r.experts(0, 2), 1);
  double denom = std::exp(0.5) + std::exp(-1) + std::exp(2);
  EXPECT_NEAR(r.weights(0, 1), std::exp(0.5) / denom, 1e-6);
  EXPECT_NEAR(r.weights.sum(), 1.0, 1e-6);
}

TEST(Routing, TopkSoftmaxNormalisesOverSelectedLogits) {
  RoutingRule rule;
  rule.order = GateOrder::TopkSoftmax;
  Routing r = route_logits({1, 3, 2, 0}, rule, 2);
  EXPECT_EQ(r.experts(0, 0), 1);
  EXPECT_EQ(r.experts(0, 1), 2);
  EXPECT_NEAR(r.weights(0, 0), std::exp(3) / (std::exp(3) + std::exp(2)), 1e-6);
}

TEST(Routing, LogitBiasShiftsLogits) {
  RoutingRule rule;
  rule.order = GateOrder::TopkSoftmax;
  rule.logit_bias = true;
  Routing r = route_logits({1, 3, 2, 0}, rule, 2, {0, 0, 0, 4});
  EXPECT_EQ(r.experts(0, 0), 3); // 0 + 4 = 4 > 3
  EXPECT_EQ(r.experts(0, 1), 1);
  EXPECT_NEAR(r.logits(0, 3), 4.0, 1e-6);
  EXPECT_NEAR(r.weights(0, 0), std::exp(4) / (std::exp(4) + std::exp(3)), 1e-6);
}

TEST(Routing, SigmoidSelectionBiasSelectsButDoesNotWeigh) {
  RoutingRule rule; // DeepSeek-V3
  rule.scoring = Scoring::Sigmoid;
  rule.selection_bias = true;
  rule.renormalize = true;
  rule.scaling = 2.5;
  Routing r = route_logits({0, 1, 2, 3}, rule, 2, {5, 0, 0, 0});
  EXPECT_EQ(r.experts(0, 0), 0);
  EXPECT_EQ(r.experts(0, 1), 3);
  double s0 = sig(0), s3 = sig(3);
  EXPECT_NEAR(r.weights(0, 0), 2.5 * s0 / (s0 + s3), 1e-6);
  EXPECT_NEAR(r.weights(0, 1), 2.5 * s3 / (s0 + s3), 1e-6);
  EXPECT_NEAR(r.logits(0, 0), 0.0, 1e-7); // the selection bias never enters the logits
}

TEST(Routing, GroupLimitedSigmoidScoresGroupsByTopTwoSum) {
  RoutingRule rule;
  rule.scoring = Scoring::Sigmoid;
  rule.n_group = 4;
  rule.topk_group = 2;
  // Groups {0,1} {2,3} {4,5} {6,7}. Expert 6 has the single largest logit but its group's
  // top-2 sum is small; groups 0 and 2 win on sums.
  Routing r = route_logits({2, 2, 0, 0, 1.5f, 1.5f, 3, -5}, rule, 2);
  // group sums: σ(2)+σ(2)=1.76, σ(0)+σ(0)=1.0, σ(1.5)·2=1.64, σ(3)+σ(−5)=0.96
  EXPECT_EQ(r.experts(0, 0), 0);
  EXPECT_EQ(r.experts(0, 1), 1);
  Routing r3 = route_logits({2, 2, 0, 0, 1.5f, 1.5f, 3, -5}, rule, 3);
  EXPECT_EQ(r3.experts(0, 2), 4);
}

TEST(Routing, GroupLimitedSoftmaxScoresGroupsByBestExpert) {
  RoutingRule rule;
  rule.n_group = 4;
  rule.topk_group = 1;
  Routing r = route_logits({2, 2, 0, 0, 1.5f, 1.5f, 3, -5}, rule, 2);
  // best per group: 2, 0, 1.5, 3 -> group 3 only; its experts are 6 then 7.
  EXPECT_EQ(r.experts(0, 0), 6);
  EXPECT_EQ(r.experts(0, 1), 7);
}

// DbrxRouter: top_weights / torch.norm(top_weights, p): the k weights get unit p-norm.
TEST(Routing, PNormRenormalisationGivesUnitPNorm) {
  RoutingRule rule;
  rule.renormalize = true;
  rule.renorm_p = 2.0;
  Routing r = route_logits({0.5f, 2, -1, 1}, rule, 2);
  const double z = std::exp(0.5) + std::exp(2) + std::exp(-1) + std::exp(1);
  const double p1 = std::exp(2) / z, p3 = std::exp(1) / z, n2 = std::sqrt(p1 * p1 + p3 * p3);
  EXPECT_EQ(r.experts(0, 0), 1);
  EXPECT_EQ(r.experts(0, 1), 3);
  EXPECT_NEAR(r.weights(0, 0), p1 / n2, 1e-6);
  EXPECT_NEAR(r.weights(0, 1), p3 / n2, 1e-6);
}

// DeepseekV3TopkRouter.get_topk_indices masks out-of-group choices to 0.0, not −∞: when the
// kept group's biased choices are negative, a masked expert (choice 0) is selected before them,
// and its weight is its own unbiased sigmoid score.
TEST(Routing, OutOfGroupExpertsAreMaskedToZeroNotMinusInfinity) {
  RoutingRule rule;
  rule.scoring = Scoring::Sigmoid;
  rule.selection_bias = true;
  rule.n_group = 2;
  rule.topk_group = 1;
  // Groups {0,1} {2,3}. Biased choices: σ(z) + b = {−0.6, −0.7, −0.9, −0.95}: group 0 wins;
  // masked: {−0.6, −0.7, 0, 0} -> top-2 = experts 2 and 3 (ties at 0: lower index first).
  std::vector<float> z = {0, 0, 0, 0}, bias = {-1.1f, -1.2f, -1.4f, -1.45f};
  Routing r = route_logits(z, rule, 2, bias);
  EXPECT_EQ(r.experts(0, 0), 2);
  EXPECT_EQ(r.experts(0, 1), 3);
  EXPECT_NEAR(r.weights(0, 0), 0.5, 1e-7);
}

TEST(Routing, RejectsBadKAndSparsemixerOtherThanTop2) {
  RoutingRule rule;
  EXPECT_THROW(route_logits({1, 2}, rule, 3), Error);
  rule.sparsemixer = true;
  for (int k : {1, 3}) {
    try {
      route_logits({1, 2, 3}, rule, k);
      ADD_FAILURE() << "sparsemixer accepted top-k " << k;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("sparsemixer"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("exactly 2"), std::string::npos) << e.what();
    }
  }
}

// Sparsemixer by hand: logits {2, 1.9, 0.5, -1}, eps 0.05 (threshold 0.1). Slot 1 (expert 0):
// (2 − 1.9)/2 = 0.05 keeps expert 1, (2 − 0.5)/2 masks 2, expert 3 masked: w = e²/(e² + e^1.9).
// Slot 2 (expert 1, expert 0 excluded): (1.9 − 0.5)/1.9 > 0.1 masks 2: w = 1.
TEST(Routing, SparsemixerMasksRelativeToTheChoice) {
  RoutingRule rule;
  rule.sparsemixer = true;
  rule.jitter_eps = 0.05;
  Routing r = route_logits({2, 1.9f, 0.5f, -1}, rule, 2);
  EXPECT_EQ(r.experts(0, 0), 0);
  EXPECT_EQ(r.experts(0, 1), 1);
  const double z1 = double(1.9f);
  EXPECT_NEAR(r.weights(0, 0), std::exp(2) / (std::exp(2) + std::exp(z1)), 1e-6);
  EXPECT_NEAR(r.weights(0, 1), 1.0, 1e-7);
  // eps 0.7 (threshold 1.4) keeps expert 2 in both slots ((2 − 0.5)/2, (1.9 − 0.5)/1.9) but not
  // expert 3 ((2 + 1)/2 = 1.5, (1.9 + 1)/1.9 ≈ 1.53).
  rule.jitter_eps = 0.7;
  r = route_logits({2, 1.9f, 0.5f, -1}, rule, 2);
  const double z2 = double(0.5f);
  EXPECT_NEAR(r.weights(0, 0), std::exp(2) / (std::exp(2) + std::exp(z1) + std::exp(z2)), 1e-6);
  EXPECT_NEAR(r.weights(0, 1), std::exp(z1) / (std::exp(z1) + std::exp(z2)), 1e-6);
  // LB probabilities are the softmax over all N.
  const double all = std::exp(2) + std::exp(z1) + std::exp(z2) + std::exp(-1);
  EXPECT_NEAR(r.probs(0, 3), std::exp(-1) / all, 1e-7);
}

// Float64 weights with the selection held fixed, written from the rule's definition.
Eigen::VectorXd oracle_weights(const Eigen::VectorXd& z, const std::vector<int>& sel,
                               const RoutingRule& rule) {
  const int k = int(sel.size());
  Eigen::VectorXd w(k);
  if (rule.order == GateOrder::TopkSoftmax && rule.scoring == Scoring::Softmax) {
    double s = 0;
    for (int j = 0; j < k; ++j)
      s += std::exp(z(sel[size_t(j)]));
    for (int j = 0; j < k; ++j)
      w(j) = std::exp(z(sel[size_t(j)])) / s;
  } else {
    Eigen::VectorXd sc(z.size());
    if (rule.scoring == Scoring::Softmax)
      sc = z.array().exp() / z.array().exp().sum();
    else
      sc = z.unaryExpr([](double v) { return sig(v); });
    for (int j = 0; j < k; ++j)
      w(j) = sc(sel[size_t(j)]);
    if (rule.renormalize)
      w /= std::pow(w.array().pow(rule.renorm_p).sum(), 1 / rule.renorm_p);
  }
  return w * rule.scaling;
}

Eigen::VectorXd oracle_probs(const Eigen::VectorXd& z, const RoutingRule& rule) {
  if (rule.scoring == Scoring::Softmax)
    return z.array().exp() / z.array().exp().sum();
  Eigen::VectorXd s = z.unaryExpr([](double v) { return sig(v); });
  return s / s.sum();
}

TEST(RoutingBackward, MatchesFiniteDifferencesForEveryOrderAndScoring) {
  const int n = 6, k = 3, tokens = 4;
  MatrixF x = test::random_matrix(tokens, n, 11, 1.0f);
  MatrixF gw = test::random_matrix(tokens, k, 12, 1.0f);
  MatrixF gp = test::random_matrix(tokens, n, 13, 1.0f);
  for (auto order : {GateOrder::SoftmaxTopk, GateOrder::TopkSoftmax})
    for (auto scoring : {Scoring::Softmax, Scoring::Sigmoid})
      for (double renorm_p : {0.0, 1.0, 2.0, 3.5}) {
        // renorm_p 0: no renormalisation; else divide by the p-norm (DBRX's p).
        const bool renorm = renorm_p > 0;
        RoutingRule rule;
        rule.order = order;
        rule.scoring = scoring;
        rule.renormalize = renorm;
        rule.renorm_p = renorm ? renorm_p : 1.0;
        rule.scaling = 1.5;
        Routing r = route_tokens(x, MatrixF::Identity(n, n), {}, rule, k);
        MatrixF dz = routing_backward(r, rule, gw, gp);
        for (int t = 0; t < tokens; ++t) {
          std::vector<int> sel;
          for (int j = 0; j < k; ++j)
            sel.push_back(r.experts(t, j));
          auto loss = [&](const Eigen::VectorXd& z) {
            return oracle_weights(z, sel, rule).dot(gw.row(t).transpose().cast<double>()) +
                   oracle_probs(z, rule).dot(gp.row(t).transpose().cast<double>());
          };
          Eigen::VectorXd z = x.row(t).transpose().cast<double>();
          for (int i = 0; i < n; ++i) {
            Eigen::VectorXd zp = z, zm = z;
            zp(i) += 1e-6;
            zm(i) -= 1e-6;
            double fd = (loss(zp) - loss(zm)) / 2e-6;
            EXPECT_NEAR(dz(t, i), fd, 1e-4 * (1 + std::abs(fd)))
                << "order " << int(order) << " scoring " << int(scoring) << " renorm p "
                << renorm_p;
          }
        }
      }
}

// Sparsemixer's gradient (masks and selection held fixed, as transformers computes them under
// no_grad) against finite differences of the float64 re-derivation of transformers' sparsemixer,
// with the LB probabilities' term; logits spread so that masks keep one, two or more experts.
TEST(RoutingBackward, SparsemixerMatchesFiniteDifferences) {
  const int n = 6, tokens = 6;
  MatrixF x = test::random_matrix(tokens, n, 21, 1.5f);
  MatrixF gw = test::random_matrix(tokens, 2, 22, 1.0f);
  MatrixF gp = test::random_matrix(tokens, n, 23, 1.0f);
  int soft_slots = 0; // slots whose weight depends on more than one logit
  for (double eps : {0.01, 0.2, 0.6, 2.0}) {
    RoutingRule rule;
    rule.sparsemixer = true;
    rule.jitter_eps = eps;
    Routing r = route_tokens(x, MatrixF::Identity(n, n), {}, rule, 2);
    MatrixF dz = routing_backward(r, rule, gw, gp);
    for (int t = 0; t < tokens; ++t) {
      Eigen::VectorXd z = x.row(t).transpose().cast<double>();
      const test::SparsemixerChoice want = test::phimoe_sparsemixer(z, eps);
      for (int j = 0; j < 2; ++j) {
        EXPECT_EQ(r.experts(t, j), want.experts[size_t(j)]);
        EXPECT_NEAR(r.weights(t, j), want.weights[size_t(j)], 1e-6);
        soft_slots += want.weights[size_t(j)] < 0.999;
      }
      auto loss = [&](const Eigen::VectorXd& v) {
        const test::SparsemixerChoice c = test::phimoe_sparsemixer(v, eps);
        const Eigen::VectorXd p = v.array().exp() / v.array().exp().sum();
        return c.weights[0] * gw(t, 0) + c.weights[1] * gw(t, 1) +
               p.dot(gp.row(t).transpose().cast<double>());
      };
      for (int i = 0; i < n; ++i) {
        Eigen::VectorXd zp = z, zm = z;
        zp(i) += 1e-6;
        zm(i) -= 1e-6;
        const double fd = (loss(zp) - loss(zm)) / 2e-6;
        EXPECT_NEAR(dz(t, i), fd, 1e-4 * (1 + std::abs(fd))) << "eps " << eps << " token " << t;
      }
    }
  }
  EXPECT_GT(soft_slots, 8) << "the masks never kept a second expert: the test checks too little";
}

// y = Σ_j w_j·E_j(x) + σ(x·sg)·S(x) in float64, one token at a time.
Eigen::VectorXd oracle_expert(const MatrixF& g, const MatrixF& u, const MatrixF& d,
                              const Eigen::VectorXd& x) {
  Eigen::VectorXd a = g.cast<double>() * x, b = u.cast<double>() * x;
  Eigen::VectorXd h(a.size());
  for (Eigen::Index i = 0; i < a.size(); ++i)
    h(i) = a(i) * sig(a(i)) * b(i);
  return d.cast<double>() * h;
}

TEST(MoeBlock, MatchesFloat64RecomputationWithGatedSharedExpert) {
  auto model = test::InMemoryModel::random(1, 5, 8, 6, 2, 21);
  auto& layer = model.layer_data(0);
  layer.shared_gate_proj = test::random_matrix(7, 8, 30, 0.3f);
  layer.shared_up = test::random_matrix(7, 8, 31, 0.3f);
  layer.shared_down = test::random_matrix(8, 7, 32, 0.3f);
  layer.shared_gate_weight = test::random_matrix(1, 8, 33, 0.3f);
  layer.router = test::random_matrix(5, 8, 34, 1.0f);
  MoeModel& m = model;
  ModelInfo& info = const_cast<ModelInfo&>(m.info());
  info.layers[0].shared_experts = 1;
  info.layers[0].d_shared = 7;
  MoeLayerWeights w = load_moe_layer(model, 0);
  MatrixF x = test::random_matrix(4, 8, 35, 1.0f);
  MatrixF y = moe_block_forward(w, layer.router, x);
  for (int t = 0; t < 4; ++t) {
    Eigen::VectorXd xt = x.row(t).transpose().cast<double>();
    Eigen::VectorXd z = layer.router.cast<double>() * xt;
    Eigen::VectorXd p = z.array().exp() / z.array().exp().sum();
    Eigen::VectorXd want = Eigen::VectorXd::Zero(8);
    // top-2 by hand
    int a = 0;
    for (int e = 1; e < 5; ++e)
      if (p(e) > p(a))
        a = e;
    int b = a == 0 ? 1 : 0;
    for (int e = 0; e < 5; ++e)
      if (e != a && p(e) > p(b))
        b = e;
    for (int e : {a, b})
      want += p(e) * oracle_expert(layer.experts[size_t(e)].gate, layer.experts[size_t(e)].up,
                                   layer.experts[size_t(e)].down, xt);
    double gate = sig(layer.shared_gate_weight.cast<double>().row(0).dot(xt));
    want += gate * oracle_expert(layer.shared_gate_proj, layer.shared_up, layer.shared_down, xt);
    for (int i = 0; i < 8; ++i)
      EXPECT_NEAR(y(t, i), want(i), 1e-5 * (1 + std::abs(want(i))));
  }
}

} // namespace
} // namespace routerscope
