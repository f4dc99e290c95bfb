// Finite-difference checks (float64, central differences) of the language model's analytic
// backward pass, tensor group by tensor group, for vanilla routing and every MPI variant.
#include "core/lm/lm_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>

using namespace routerscope;
using namespace routerscope::lm;

namespace {

LmConfig tiny_config() {
  LmConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.layers = 2;
  c.experts = 4;
  c.top_k = 2;
  c.d_expert = 6;
  c.ctx = 6;
  c.init_std = 0.4; // large enough that every nonlinearity is far from linear
  return c;
}

LmParams<double> tiny_params(const LmConfig& c, std::uint64_t seed) {
  LmParams<double> p = lm_cast<double>(lm_init(c, seed));
  // RMSNorm weights start at 1; move them so their own gradients are generic.
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  for (const auto& t : p.tensors())
    if (!t.matrix)
      for (size_t i = 0; i < t.size; ++i)
        p.buffer()[t.offset + i] = u(rng);
  return p;
}

LmBatch tiny_batch(const LmConfig& c, std::uint64_t seed) {
  LmBatch b;
  b.batch = 4; // 24 tokens, 48 routed slots: every expert of the tiny model gets some
  b.seq = c.ctx;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> tok(0, c.vocab - 1);
  for (int i = 0; i < b.batch * b.seq; ++i) {
    b.inputs.push_back(tok(rng));
    b.targets.push_back(tok(rng));
  }
  return b;
}

LmRouting routing_for(const std::string& variant, int power_steps = 1) {
  LmRouting r;
  r.variant = parse_variant(variant);
  r.mpi.power_steps = power_steps;
  return r;
}

// Compares the analytic gradient of every tensor whose name passes `select` with central
// differences; returns how many entries were checked.
int check_gradients(const LmRouting& routing, double lb_alpha,
                    const std::function<bool(const std::string&)>& select, std::uint64_t seed = 7) {
  const LmConfig c = tiny_config();
  LmParams<double> p = tiny_params(c, seed);
  const LmBatch batch = tiny_batch(c, seed + 2);
  LmParams<double> g(c);
  lm_loss(p, routing, batch, lb_alpha, &g, 1);
  const double h = 1e-6;
  int checked = 0;
  for (const auto& t : p.tensors()) {
    if (!select(t.name))
      continue;
    double err2 = 0, ref2 = 0;
    for (size_t i = 0; i < t.size; ++i) {
      double& x = p.buffer()[t.offset + i];
      const double x0 = x;
      x = x0 + h;
      const double up = lm_loss<double>(p, routing, batch, lb_alpha, nullptr, 1).total;
      x = x0 - h;
      const double down = lm_loss<double>(p, routing, batch, lb_alpha, nullptr, 1).total;
      x = x0;
      const double fd = (up - down) / (2 * h);
      const double an = g.buffer()[t.offset + i];
      err2 += (fd - an) * (fd - an);
      ref2 += fd * fd;
      ++checked;
    }
    EXPECT_GT(ref2, 0) << t.name << " has no gradient at all";
    // Central differences at h = 1e-6 in double are good to ~1e-8 relative; a wrong term in the
    // backward pass shows as O(1).
    EXPECT_LT(std::sqrt(err2 / ref2), 1e-6) << routing.variant.name << ": " << t.name;
  }
  return checked;
}

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

} // namespace

TEST(LmGradient, EmbeddingAndLmHeadMatchFiniteDifferences) {
  EXPECT_GT(check_gradients(routing_for("vanilla"), 0.01,
                            [](const std::string& n) {
                              return contains(n, "embed_tokens") || contains(n, "lm_head");
                            }),
            0);
}

TEST(LmGradient, RmsNormWeightsMatchFiniteDifferences) {
  EXPECT_GT(check_gradients(routing_for("vanilla"), 0.01,
                            [](const std::string& n) { return contains(n, "norm.weight"); }),
            0);
}

TEST(LmGradient, CausalAttentionWithRopeMatchesFiniteDifferences) {
  EXPECT_GT(check_gradients(routing_for("vanilla"), 0.01,
                            [](const std::string& n) { return contains(n, "self_attn"); }),
            0);
}

TEST(LmGradient, TopKMoeExpertsMatchFiniteDifferences) {
  EXPECT_GT(check_gradients(routing_for("vanilla"), 0.01,
                            [](const std::string& n) { return contains(n, ".experts."); }),
            0);
}

TEST(LmGradient, RouterWithLoadBalancingLossMatchesFiniteDifferences) {
  // A large α makes the LB term's share of the router gradient comparable to the LM term's.
  EXPECT_GT(check_gradients(routing_for("vanilla"), 0.5,
                            [](const std::string& n) { return contains(n, "gate.weight"); }),
            0);
}

TEST(LmGradient, MpiPathReachesRouterAndW1) {
  for (int k : {1, 2}) {
    SCOPED_TRACE("power steps " + std::to_string(k));
    EXPECT_GT(check_gradients(routing_for("mpi", k), 0.5,
                              [](const std::string& n) {
                                return contains(n, "gate.weight") || contains(n, ".w1.") ||
                                       contains(n, ".w3.");
                              }),
              0);
  }
}

TEST(LmGradient, MpiAblationsMatchFiniteDifferences) {
  for (const char* v : {"no-power", "no-retract"}) {
    SCOPED_TRACE(v);
    EXPECT_GT(check_gradients(routing_for(v), 0.5,
                              [](const std::string& n) {
                                return contains(n, "gate.weight") || contains(n, ".w1.");
                              }),
              0);
  }
}

TEST(LmGradient, MpiRouterDiffersFromStoredAndHasRadiusC) {
  // R′ rows have norm C′/√N and differ from R; the vanilla router is R itself.
  const LmConfig c = tiny_config();
  const LmParams<double> p = tiny_params(c, 3);
  const auto r = p.mat(p.slots().layers[1].gate);
  const Mat<double> vanilla = lm_routing_router(p, 1, routing_for("vanilla"));
  EXPECT_EQ((vanilla - r).norm(), 0.0);
  const Mat<double> mpi = lm_routing_router(p, 1, routing_for("mpi"));
  for (int e = 0; e < c.experts; ++e) {
    EXPECT_NEAR(mpi.row(e).norm(), 4.0 / std::sqrt(double(c.experts)), 1e-12);
    // Independent re-computation of one power step: W1ᵀ(W1 R[e]).
    const auto w1 = p.mat(p.slots().layers[1].w1[size_t(e)]);
    Eigen::VectorXd v = w1.transpose() * (w1 * r.row(e).transpose());
    v *= 4.0 / std::sqrt(double(c.experts)) / v.norm();
    EXPECT_LT((mpi.row(e).transpose() - v).norm(), 1e-12);
  }
}
