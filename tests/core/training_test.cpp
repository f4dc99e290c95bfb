#include "core/error.h"
#include "core/training.h"
#include "tests/support/mpi_oracle.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace routerscope {
namespace {

double sig(double z) {
  return 1 / (1 + std::exp(-z));
}

// The whole training objective in float64, written from the definitions (mpi.md, routing rule
// of OLMoE/Mixtral: softmax over N, top-k, optional renorm): the oracle for finite differences.
struct Oracle {
  const test::InMemoryModel::Layer* layer;
  MatrixD x, target;
  int k;
  RoutingRule rule;
  TrainVariant variant;
  MpiSettings mpi;
  double alpha, z_weight;

  MatrixD routed_router(const MatrixD& r) const {
    if (!variant.reparametrised)
      return r;
    std::vector<MatrixD> g;
    for (Eigen::Index i = 0; i < r.rows(); ++i)
      g.push_back(layer->experts[size_t(i)].gate.cast<double>());
    MpiSettings s = mpi;
    s.ablation = variant.ablation;
    return test::mpi_oracle(r, g, s);
  }
  Eigen::VectorXd expert(int e, const Eigen::VectorXd& xt) const {
    const auto& ex = layer->experts[size_t(e)];
    Eigen::VectorXd a = ex.gate.cast<double>() * xt, b = ex.up.cast<double>() * xt;
    for (Eigen::Index i = 0; i < a.size(); ++i)
      a(i) = a(i) * sig(a(i)) * b(i);
    return ex.down.cast<double>() * a;
  }
  double operator()(const MatrixD& r) const {
    MatrixD rr = routed_router(r);
    const Eigen::Index t_count = x.rows(), n = r.rows();
    double task = 0, z = 0;
    Eigen::VectorXd counts = Eigen::VectorXd::Zero(n), pmean = Eigen::VectorXd::Zero(n);
    for (Eigen::Index t = 0; t < t_count; ++t) {
      Eigen::VectorXd xt = x.row(t).transpose();
      Eigen::VectorXd logits = rr * xt;
      double m = logits.maxCoeff();
      double lse = m + std::log((logits.array() - m).exp().sum());
      z += lse * lse;
      Eigen::VectorXd p = (logits.array() - lse).exp();
      pmean += p / double(t_count);
      // SoftmaxTopk selects on p and weighs by p (renormalised or not); TopkSoftmax selects on
      // the logits and weighs by the softmax over the k selected logits.
      const bool topk_first = rule.order == GateOrder::TopkSoftmax;
      std::vector<int> idx(static_cast<size_t>(n));
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return p(a) > p(b); });
      double sum = 0, sum_exp = 0;
      for (int j = 0; j < k; ++j) {
        sum += p(idx[size_t(j)]);
        sum_exp += std::exp(logits(idx[size_t(j)]) - m);
      }
      Eigen::VectorXd y = Eigen::VectorXd::Zero(x.cols());
      const test::SparsemixerChoice mixer = test::phimoe_sparsemixer(logits, rule.jitter_eps);
      for (int j = 0; j < k; ++j) {
        int e = rule.sparsemixer ? mixer.experts[size_t(j)] : idx[size_t(j)];
        counts(e) += 1;
        const double w = rule.sparsemixer   ? mixer.weights[size_t(j)]
                         : topk_first       ? std::exp(logits(e) - m) / sum_exp
                         : rule.renormalize ? p(e) / sum
                                            : p(e);
        y += w * expert(e, xt);
      }
      task += (y - target.row(t).transpose()).squaredNorm();
    }
    task /= double(t_count * x.cols());
    double lb = alpha * double(n) * (counts / counts.sum()).dot(pmean);
    return task + lb + z_weight * z / double(t_count);
  }
};

TEST(RouterObjective, GradientMatchesFiniteDifferencesOfWholeLoss) {
  auto model = test::InMemoryModel::random(1, 4, 6, 5, 2, 3);
  model.layer_data(0).router = test::random_matrix(4, 6, 40, 0.7f);
  TrainSettings s;
  s.z_weight = 1e-2;
  s.lb_alpha = 0.05;
  s.mpi.c_prime = 6;
  TrainingLayer layer;
  layer.weights = load_moe_layer(model, 0);
  layer.g = load_direction_operators(model, 0, ExpertMatrix::Gate);
  MatrixF x = test::random_matrix(5, 6, 41, 1.0f);
  MatrixF target = test::random_matrix(5, 6, 42, 0.3f);
  MatrixF r = test::random_matrix(4, 6, 43, 0.8f);
  // Every order (softmax→top-k with and without renormalisation, top-k→softmax) and k = 1..3,
  // and PhiMoE's sparsemixer (k = 2 only; eps large enough that its masks keep several experts).
  struct Order {
    GateOrder order;
    bool renorm;
    bool sparsemixer = false;
  };
  for (int k : {1, 2, 3})
    for (Order ord :
         {Order{GateOrder::SoftmaxTopk, false}, Order{GateOrder::SoftmaxTopk, true},
          Order{GateOrder::TopkSoftmax, false}, Order{GateOrder::SoftmaxTopk, false, true}})
      for (const char* name : {"vanilla", "mpi", "no-power", "no-retract"}) {
        if (ord.sparsemixer && k != 2)
          continue;
        const bool renorm = ord.renorm;
        layer.weights.top_k = k;
        TrainVariant v = parse_variant(name);
        RoutingRule rule;
        rule.renormalize = renorm;
        rule.order = ord.order;
        rule.sparsemixer = ord.sparsemixer;
        rule.jitter_eps = 0.5;
        s.mpi.order = ord.order;
        Objective o = router_objective(layer, r, v, rule, x, target, s);
        Oracle oracle{
            &model.layer_data(0), x.cast<double>(), target.cast<double>(), k, rule, v, s.mpi,
            s.lb_alpha,           s.z_weight};
        MatrixD rd = r.cast<double>();
        EXPECT_NEAR(o.total, oracle(rd), 1e-5 * (1 + o.total)) << name;
        const double h = 1e-6;
        for (Eigen::Index i = 0; i < r.rows(); ++i)
          for (Eigen::Index j = 0; j < r.cols(); ++j) {
            MatrixD p = rd, m = rd;
            p(i, j) += h;
            m(i, j) -= h;
            double fd = (oracle(p) - oracle(m)) / (2 * h);
            EXPECT_NEAR(o.grad(i, j), fd, 2e-4 * (1 + std::abs(fd)))
                << name << " k " << k << " order " << int(ord.order) << " renorm " << renorm
                << " sparsemixer " << ord.sparsemixer << " at " << i << "," << j;
          }
      }
}

// adamw_step against torch.optim.AdamW's definition, re-derived here in float64: decoupled
// decay p ← p(1 − lr·wd), m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², then
// p ← p − (lr/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + eps); the gradient is first clipped to grad_clip in
// Frobenius norm (torch.nn.utils.clip_grad_norm_).
TEST(AdamW, MatchesPyTorchAdamWDefinitionOverSeveralSteps) {
  AdamWSettings s;
  s.lr = 1e-2;
  s.weight_decay = 0.1;
  s.grad_clip = 1.0;
  MatrixF r = test::random_matrix(3, 4, 60, 1.0f);
  MatrixD p = r.cast<double>(), m = MatrixD::Zero(3, 4), v = MatrixD::Zero(3, 4);
  AdamState st;
  const double lrs[] = {1e-2, 5e-3, 2e-2, 1e-3, 7e-3};
  for (int t = 1; t <= 5; ++t) {
    // Step 3's gradient is large, so clipping is exercised; the others are below the clip.
    MatrixF grad = test::random_matrix(3, 4, 70 + std::uint64_t(t), t == 3 ? 3.0f : 0.1f);
    const double lr = lrs[t - 1];
    const double returned = adamw_step(r, grad, st, s, lr);
    MatrixD g = grad.cast<double>();
    const double norm = g.norm();
    EXPECT_NEAR(returned, norm, 1e-6 * norm);
    if (norm > s.grad_clip)
      g *= s.grad_clip / norm;
    p *= 1 - lr * s.weight_decay;
    m = s.beta1 * m + (1 - s.beta1) * g;
    v = s.beta2 * v + (1 - s.beta2) * g.cwiseProduct(g);
    const double bc1 = 1 - std::pow(s.beta1, t), bc2 = 1 - std::pow(s.beta2, t);
    p.array() -= (lr / bc1) * m.array() / (v.array().sqrt() / std::sqrt(bc2) + s.eps);
    EXPECT_LT((r.cast<double>() - p).cwiseAbs().maxCoeff(), 1e-6) << "step " << t;
  }
  EXPECT_EQ(st.t, 5);
}

// A non-finite loss or gradient stops training at once, naming step, variant and layer (a NaN
// gradient norm would pass the clip, since NaN > clip is false).
TEST(TrainRouter, NonFiniteLossStopsWithStepVariantAndLayer) {
  auto model = test::InMemoryModel::random(1, 4, 8, 6, 2, 5);
  MatrixF tokens = test::random_matrix(16, 8, 6, 1.0f);
  tokens(3, 2) = std::nanf("");
  TrainSettings s;
  s.steps = 3;
  s.batch = 16;
  s.variants = {"mpi", "vanilla"};
  try {
    train_router(model, tokens, {}, s);
    FAIL() << "training went on with a NaN loss";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("step 0"), std::string::npos) << what;
    EXPECT_NE(what.find("variant mpi"), std::string::npos) << what;
    EXPECT_NE(what.find("layer 0"), std::string::npos) << what;
    EXPECT_NE(what.find("not finite"), std::string::npos) << what;
  }
}

TEST(LearningRate, WarmsUpLinearlyThenDecaysByCosine) {
  AdamWSettings s;
  s.lr = 1.0;
  s.warmup_steps = 4;
  s.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(s, 0, 14), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate(s, 3, 14), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(s, 4, 14), 1.0);
  EXPECT_NEAR(learning_rate(s, 13, 14), 0.1, 1e-12);
  EXPECT_NEAR(learning_rate(s, 7, 14), 0.1 + 0.9 * 0.75, 1e-12);
}

TrainSettings small_settings() {
  TrainSettings s;
  s.steps = 60;
  s.batch = 32;
  s.adamw.lr = 5e-2;
  s.adamw.warmup_steps = 5;
  s.init = RouterInit::Random;
  s.init_std = 0.5;
  s.seed = 7;
  s.global_every = 20;
  return s;
}

TEST(TrainRouter, LossDecreasesForVanillaAndMpi) {
  auto model = test::InMemoryModel::random(1, 6, 12, 8, 2, 5);
  auto& data = model.layer_data(0);
  data.router = test::random_matrix(6, 12, 50, 1.0f);
  for (size_t e = 0; e < data.experts.size(); ++e) { // make the task term dominate the LB term
    data.experts[e].up = test::random_matrix(8, 12, 60 + e, 0.5f);
    data.experts[e].down = test::random_matrix(12, 8, 70 + e, 0.5f);
  }
  MatrixF tokens = synthetic_tokens(256, 12, 1);
  MatrixF held = synthetic_tokens(64, 12, 2);
  TrainSettings s = small_settings();
  std::vector<std::vector<double>> losses(2);
  int globals = 0;
  TrainResult r = train_router(model, tokens, held, s, [&](const TrainStepRecord& rec) {
    losses[size_t(rec.variant)].push_back(rec.task_loss);
    EXPECT_NEAR(rec.loss, rec.task_loss + rec.lb_loss, 1e-12); // z_weight = 0
    if (rec.maxvio_global)
      ++globals;
    EXPECT_EQ(rec.load.sum(), double(s.batch * 2));
  });
  EXPECT_EQ(r.steps_done, 60);
  EXPECT_EQ(globals, 2 * 4); // steps 0, 20, 40 and the last
  // Deterministic check on the whole pool: the task loss of the final routers against that of
  // the common starting router.
  TrainingLayer layer = prepare_training_layer(model, s);
  MatrixF target = training_target(model, layer, tokens, model.info().routing);
  const MatrixF& start = r.initial_router;
  EXPECT_GT((start - data.router).norm(), 0.1 * data.router.norm()); // a random init, not R
  for (size_t v = 0; v < 2; ++v) {
    ASSERT_EQ(losses[v].size(), 60u);
    TrainVariant var = r.variants[v];
    RoutingRule rule = variant_rule(model.info().routing, var, s.mpi);
    double before = router_objective(layer, start, var, rule, tokens, target, s).task;
    double after = router_objective(layer, r.routers[v], var, rule, tokens, target, s).task;
    EXPECT_LT(after, 0.5 * before) << var.name << " before " << before << " after " << after;
  }
  // The MPI variant routes with R′: its routing rows have norm C′/√N.
  for (double v : r.last[1].router_norm)
    EXPECT_NEAR(v, 4.0 / std::sqrt(6.0), 1e-4);
  EXPECT_EQ(r.last[0].stored_norm.size(), 0);
  EXPECT_EQ(r.last[1].stored_norm.size(), 6);
}

TEST(TrainRouter, VariantsSeeIdenticalBatches) {
  auto model = test::InMemoryModel::random(1, 5, 10, 6, 2, 8);
  MatrixF tokens = synthetic_tokens(100, 10, 3);
  TrainSettings s = small_settings();
  s.steps = 12;
  s.variants = {"vanilla", "mpi", "vanilla"};
  std::vector<std::vector<TrainStepRecord>> recs(3);
  train_router(model, tokens, {}, s,
               [&](const TrainStepRecord& r) { recs[size_t(r.variant)].push_back(r); });
  TrainSettings alone = s;
  alone.variants = {"vanilla"};
  std::vector<TrainStepRecord> solo;
  train_router(model, tokens, {}, alone, [&](const TrainStepRecord& r) { solo.push_back(r); });
  ASSERT_EQ(solo.size(), 12u);
  for (size_t t = 0; t < 12; ++t) {
    EXPECT_EQ(recs[0][t].loss, recs[2][t].loss);
    EXPECT_EQ(recs[0][t].load, recs[2][t].load);
    EXPECT_EQ(recs[0][t].loss, solo[t].loss);
  }
}

TEST(TrainRouter, CancellationStopsAfterCurrentStep) {
  auto model = test::InMemoryModel::random(1, 4, 8, 5, 2, 9);
  MatrixF tokens = synthetic_tokens(50, 8, 3);
  TrainSettings s = small_settings();
  std::atomic<bool> cancel{false};
  Progress p;
  p.cancel = &cancel;
  int calls = 0;
  TrainResult r = train_router(
      model, tokens, {}, s,
      [&](const TrainStepRecord& rec) {
        ++calls;
        if (rec.step == 4)
          cancel = true;
      },
      p);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.steps_done, 5);
  EXPECT_EQ(calls, 10);
}

TEST(Tokens, RmsNormAndEmbeddingSource) {
  MatrixF x(1, 2);
  x << 3, 4;
  VectorF w(2);
  w << 2, 1;
  MatrixF y = rms_norm_rows(x, w, 0.0);
  double rms = std::sqrt((9.0 + 16.0) / 2);
  EXPECT_NEAR(y(0, 0), 2 * 3 / rms, 1e-6);
  EXPECT_NEAR(y(0, 1), 4 / rms, 1e-6);
  auto model = test::InMemoryModel::random(1, 3, 4, 3, 1, 2);
  EXPECT_THROW(embedding_tokens(model, 0, 5, 1), Error);
  test::InMemoryModel with(model.info(), {{0, model.layer_data(0)}}, test::random_matrix(7, 4, 3));
  MatrixF t = embedding_tokens(with, 0, 7, 1);
  for (Eigen::Index i = 0; i < 7; ++i)
    EXPECT_NEAR(t.row(i).squaredNorm() / 4, 1.0, 1e-4); // unit RMS (no norm weight)
}

} // namespace
} // namespace routerscope
