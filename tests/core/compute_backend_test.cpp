// The backend interface: the CPU backend is exactly the reference functions, the device choice
// follows --device (with a fake GPU factory standing in for CUDA), and the batched path of
// align_model/mpi_convergence (taken for GPU backends) gives the streaming CPU path's answers.
#include "core/align.h"
#include "core/compute_backend.h"
#include "core/error.h"
#include "core/mpi_convergence.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

namespace routerscope {
namespace {

std::vector<MatrixF> planted_layer(int experts, int rows, int cols, std::uint64_t seed) {
  std::vector<MatrixF> g;
  for (int e = 0; e < experts; ++e)
    g.push_back(test::planted_matrix(rows, cols, {3.0, 2.0 + 0.05 * e, 1.0, 0.5}, seed + e).g);
  return g;
}

TEST(CpuBackend, IsExactlyTheReferenceFunctions) {
  const auto g = planted_layer(6, 20, 32, 11);
  const auto cpu = make_cpu_backend(2);
  EXPECT_EQ(cpu->name(), "cpu");
  EXPECT_FALSE(cpu->batches_layers());
  const auto ops = cpu->upload(g);
  EXPECT_EQ(ops->experts(), 6);
  EXPECT_EQ(ops->d_model(), 32);
  SpectralOptions so;
  const auto dirs = cpu->principal_directions(*ops, so, {});
  ASSERT_EQ(dirs.size(), g.size());
  for (size_t e = 0; e < g.size(); ++e) {
    const PrincipalDirection want = principal_direction(g[e], so);
    EXPECT_EQ(dirs[e].status, want.status);
    EXPECT_EQ(dirs[e].u1, want.u1);
    EXPECT_EQ(dirs[e].sigma1, want.sigma1);
  }
  Eigen::MatrixXf r0 = Eigen::MatrixXf::Random(6, 32);
  const MatrixF r = r0;
  for (auto ablation : {MpiSettings::Ablation::None, MpiSettings::Ablation::NoPower,
                        MpiSettings::Ablation::NoRetract}) {
    MpiSettings s;
    s.ablation = ablation;
    s.power_steps = 2;
    VectorD pre;
    const MatrixF got = cpu->mpi_step(*ops, r, s, &pre);
    EXPECT_EQ(got, mpi_router(r, g, s));
    EXPECT_EQ(pre, mpi_pre_retraction_norms(r, g, s));
  }
  const MatrixF x = Eigen::MatrixXf::Random(9, 32);
  RoutingRule rule;
  rule.renormalize = true;
  const Routing a = cpu->route(x, r, VectorF(), rule, 2),
                b = route_tokens(x, r, VectorF(), rule, 2);
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.experts, b.experts);
  EXPECT_EQ(a.weights, b.weights);
}

TEST(RouteLogits, EqualsRouteTokensOnTheSameProduct) {
  const MatrixF x = Eigen::MatrixXf::Random(12, 16), r = Eigen::MatrixXf::Random(8, 16);
  const VectorF bias = VectorF::LinSpaced(8, -0.2f, 0.3f);
  RoutingRule rule;
  rule.scoring = Scoring::Sigmoid;
  rule.selection_bias = true;
  rule.renormalize = true;
  rule.scaling = 2.5;
  const Routing a = route_tokens(x, r, bias, rule, 3);
  const Routing b = route_logits(x * r.transpose(), bias, rule, 3);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.probs, b.probs);
  EXPECT_EQ(a.experts, b.experts);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_THROW(route_logits(x * r.transpose(), bias, rule, 9), Error);
}

// A stand-in for a GPU backend: the CPU's answers, but it asks for whole layers.
class BatchingBackend final : public ComputeBackend {
public:
  std::string name() const override { return "fake-gpu"; }
  bool batches_layers() const override { return true; }
  std::unique_ptr<LayerOperators> upload(const std::vector<MatrixF>& g) const override {
    ++uploads;
    return cpu_->upload(g);
  }
  std::vector<PrincipalDirection> principal_directions(const LayerOperators& l,
                                                       const SpectralOptions& o,
                                                       const Progress& p) const override {
    ++batched_calls;
    return cpu_->principal_directions(l, o, p);
  }
  MatrixF mpi_step(const LayerOperators& l, const MatrixF& r, const MpiSettings& s,
                   VectorD* pre) const override {
    ++steps;
    return cpu_->mpi_step(l, r, s, pre);
  }
  Routing route(const MatrixF& x, const MatrixF& r, const VectorF& b, const RoutingRule& rule,
                int k) const override {
    return cpu_->route(x, r, b, rule, k);
  }
  mutable int uploads = 0, batched_calls = 0, steps = 0;

private:
  std::unique_ptr<ComputeBackend> cpu_ = make_cpu_backend(1);
};

TEST(AlignModel, BatchedLayerPathGivesTheStreamingPathsAnswers) {
  auto model = test::InMemoryModel::random(3, 5, 40, 24, 2, 5);
  AlignOptions streaming;
  streaming.threads = 2;
  const auto want = align_model(model, streaming);
  BatchingBackend fake;
  AlignOptions batched = streaming;
  batched.backend = &fake;
  const auto got = align_model(model, batched);
  EXPECT_EQ(fake.batched_calls, 3); // one call per layer
  // Groups of two experts' operators (5 experts: groups of 2, 2, 1 per layer): same answers.
  BatchingBackend grouped;
  AlignOptions small = batched;
  small.backend = &grouped;
  small.batch_bytes = 2 * sizeof(float) * 24 * 40;
  const auto got_grouped = align_model(model, small);
  EXPECT_EQ(grouped.batched_calls, 3 * 3);
  ASSERT_EQ(got_grouped.size(), want.size());
  for (size_t l = 0; l < want.size(); ++l)
    for (size_t e = 0; e < want[l].experts.size(); ++e)
      EXPECT_EQ(got_grouped[l].experts[e].u1, want[l].experts[e].u1) << l << "/" << e;
  ASSERT_EQ(got.size(), want.size());
  for (size_t l = 0; l < got.size(); ++l) {
    EXPECT_EQ(got[l].layer, want[l].layer);
    ASSERT_EQ(got[l].experts.size(), want[l].experts.size());
    for (size_t e = 0; e < got[l].experts.size(); ++e) {
      EXPECT_EQ(got[l].experts[e].cos, want[l].experts[e].cos);
      EXPECT_EQ(got[l].experts[e].lambda, want[l].experts[e].lambda);
      EXPECT_EQ(got[l].experts[e].sigma2, want[l].experts[e].sigma2);
      EXPECT_EQ(got[l].experts[e].u1, want[l].experts[e].u1);
    }
    EXPECT_EQ(got[l].cos.mean, want[l].cos.mean);
  }
}

TEST(MpiConvergence, BackendStepsGiveTheReferenceRows) {
  auto model = test::InMemoryModel::random(1, 4, 32, 20, 2, 9);
  ConvergenceSettings s;
  s.steps = 5;
  const auto want = mpi_convergence(model, s);
  BatchingBackend fake;
  s.backend = &fake;
  const auto got = mpi_convergence(model, s);
  EXPECT_EQ(fake.steps, 5);
  EXPECT_EQ(fake.uploads, 1); // uploaded once, stepped five times
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].rows.size(), want[0].rows.size());
  for (size_t t = 0; t < got[0].rows.size(); ++t) {
    EXPECT_EQ(got[0].rows[t].cos, want[0].rows[t].cos);
    EXPECT_EQ(got[0].rows[t].router_norm, want[0].rows[t].router_norm);
    // NaN at row 0 on both sides: compare the finite rows.
    if (t > 0) {
      EXPECT_EQ(got[0].rows[t].pre_norm, want[0].rows[t].pre_norm);
    }
  }
}

class DeviceChoice : public ::testing::Test {
protected:
  void TearDown() override { set_gpu_backend_factory({}); }
};

TEST_F(DeviceChoice, ParsesTheThreeNamesAndRejectsOthers) {
  EXPECT_EQ(parse_device("auto"), Device::Auto);
  EXPECT_EQ(parse_device("cpu"), Device::Cpu);
  EXPECT_EQ(parse_device("cuda"), Device::Cuda);
  try {
    parse_device("gpu");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("'gpu'"), std::string::npos);
  }
}

TEST_F(DeviceChoice, WithoutAUsableGpuAutoFallsBackAndCudaIsBadInputSayingWhy) {
  set_gpu_backend_factory([](std::string* why) {
    *why = "the driver sees no device";
    return std::unique_ptr<ComputeBackend>();
  });
  const BackendChoice autoc = choose_backend(Device::Auto);
  EXPECT_EQ(autoc.backend->name(), "cpu");
  EXPECT_NE(autoc.note.find("the driver sees no device"), std::string::npos) << autoc.note;
  try {
    choose_backend(Device::Cuda);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("--device cuda"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("the driver sees no device"), std::string::npos);
  }
  EXPECT_EQ(choose_backend(Device::Cpu).backend->name(), "cpu");
}

TEST_F(DeviceChoice, AWorkingGpuIsChosenByAutoAndCudaButNotCpu) {
  set_gpu_backend_factory([](std::string*) -> std::unique_ptr<ComputeBackend> {
    return std::make_unique<BatchingBackend>();
  });
  EXPECT_EQ(choose_backend(Device::Auto).backend->name(), "fake-gpu");
  EXPECT_EQ(choose_backend(Device::Cuda).note, "device: fake-gpu");
  EXPECT_EQ(choose_backend(Device::Cpu).backend->name(), "cpu");
}

} // namespace
} // namespace routerscope
