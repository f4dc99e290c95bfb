// CUDA backend against the CPU reference (core). Links only core, gpu and the CUDA libraries, so
// it runs on a GPU machine that has nothing else installed. Every test skips, printing why, when no
// GPU is usable.
#include "core/compute_backend.h"
#include "core/error.h"
#include "core/mpi.h"
#include "core/routing.h"
#include "core/spectral.h"
#include "gpu/cuda_backend.h"

#include <Eigen/QR>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace routerscope {
namespace {

class Gpu : public ::testing::Test {
protected:
  void SetUp() override {
    std::string why;
    backend_ = gpu::make_cuda_backend(&why);
    if (!backend_)
      GTEST_SKIP() << "no usable GPU: " << why;
    std::printf("[ device   ] %s\n", backend_->name().c_str());
  }
  std::unique_ptr<ComputeBackend> backend_;
  std::mt19937_64 rng_{std::random_device{}()}; // fresh inputs every run
};

MatrixF gaussian(int rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<float> n;
  MatrixF m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i)
    m.data()[i] = n(rng);
  return m;
}

// G = U diag(s) Vᵀ with random orthonormal U, V and the given leading singular values; the rest
// decay geometrically below s.back().
MatrixF planted(int rows, int cols, std::vector<double> s, std::mt19937_64& rng) {
  const int k = std::min(rows, cols);
  while (int(s.size()) < k)
    s.push_back(s.back() * 0.97);
  Eigen::MatrixXd a = gaussian(rows, k, rng).cast<double>(),
                  b = gaussian(cols, k, rng).cast<double>();
  Eigen::MatrixXd u =
      Eigen::HouseholderQR<Eigen::MatrixXd>(a).householderQ() * Eigen::MatrixXd::Identity(rows, k);
  Eigen::MatrixXd v =
      Eigen::HouseholderQR<Eigen::MatrixXd>(b).householderQ() * Eigen::MatrixXd::Identity(cols, k);
  Eigen::VectorXd sv = Eigen::Map<Eigen::VectorXd>(s.data(), k);
  return (u * sv.asDiagonal() * v.transpose()).cast<float>();
}

double rel_err(const MatrixF& got, const MatrixF& want) {
  return double((got - want).norm()) / std::max(double(want.norm()), 1e-30);
}

// ---------------------------------------------------------------- principal directions

TEST_F(Gpu, BatchedDirectionsAgreeWithTheCpuExactSvd) {
  for (auto [experts, rows, cols] : {std::tuple{16, 96, 160}, std::tuple{5, 200, 64}}) {
    std::vector<MatrixF> g;
    for (int e = 0; e < experts; ++e)
      g.push_back(e % 2 ? gaussian(rows, cols, rng_)
                        : planted(rows, cols, {4.0, 4.0 * (0.6 + 0.03 * e)}, rng_));
    const auto ops = backend_->upload(g);
    const auto got = backend_->principal_directions(*ops, {}, {});
    ASSERT_EQ(got.size(), g.size());
    SpectralOptions exact;
    exact.method = SpectralMethod::Exact;
    for (int e = 0; e < experts; ++e) {
      SCOPED_TRACE("expert " + std::to_string(e) + " of [" + std::to_string(rows) + ", " +
                   std::to_string(cols) + "]");
      const PrincipalDirection want = principal_direction(g[size_t(e)], exact);
      ASSERT_EQ(want.status, DirectionStatus::Ok);
      ASSERT_EQ(got[size_t(e)].status, DirectionStatus::Ok);
      EXPECT_GE(std::abs(double(got[size_t(e)].u1.dot(want.u1))), 1 - 1e-5);
      EXPECT_NEAR(got[size_t(e)].sigma1, want.sigma1, 1e-5 * want.sigma1);
      EXPECT_NEAR(got[size_t(e)].sigma2, want.sigma2, 1e-5 * want.sigma1);
      // Same sign rule as the CPU: the largest-magnitude entry is positive.
      Eigen::Index at = 0;
      got[size_t(e)].u1.cwiseAbs().maxCoeff(&at);
      EXPECT_GT(got[size_t(e)].u1(at), 0);
    }
  }
}

TEST_F(Gpu, ReportsZeroNonFiniteAndDegenerateExpertsLikeTheCpu) {
  std::vector<MatrixF> g;
  g.push_back(gaussian(64, 96, rng_));
  g.push_back(MatrixF::Zero(64, 96));
  g.push_back(gaussian(64, 96, rng_));
  g.back()(3, 5) = NAN;
  g.push_back(planted(64, 96, {2.0, 2.0}, rng_)); // σ₁ = σ₂: u₁ undefined
  const auto got = backend_->principal_directions(*backend_->upload(g), {}, {});
  EXPECT_EQ(got[0].status, DirectionStatus::Ok);
  EXPECT_EQ(got[1].status, DirectionStatus::Zero);
  EXPECT_EQ(got[2].status, DirectionStatus::NonFinite);
  EXPECT_EQ(got[3].status, DirectionStatus::Degenerate);
  for (int e = 1; e < 4; ++e)
    EXPECT_EQ(got[size_t(e)].u1.size(), 0) << e;
}

// ---------------------------------------------------------------- MPI and routing

TEST_F(Gpu, MpiStepAndPreNormsAgreeWithTheCpuForEveryAblation) {
  const int experts = 12, rows = 80, cols = 128;
  std::vector<MatrixF> g;
  for (int e = 0; e < experts; ++e)
    g.push_back(gaussian(rows, cols, rng_) * 0.05f);
  const MatrixF r = gaussian(experts, cols, rng_) * 0.02f;
  const auto ops = backend_->upload(g);
  for (auto ablation : {MpiSettings::Ablation::None, MpiSettings::Ablation::NoPower,
                        MpiSettings::Ablation::NoRetract})
    for (int k : {1, 3}) {
      SCOPED_TRACE(std::string(to_string(ablation)) + ", k = " + std::to_string(k));
      MpiSettings s;
      s.ablation = ablation;
      s.power_steps = k;
      VectorD pre;
      const MatrixF got = backend_->mpi_step(*ops, r, s, &pre);
      EXPECT_LE(rel_err(got, mpi_router(r, g, s)), 1e-5);
      const VectorD want = mpi_pre_retraction_norms(r, g, s);
      EXPECT_LE((pre - want).norm() / want.norm(), 1e-5);
    }
  MatrixF zero_row = r;
  zero_row.row(4).setZero();
  EXPECT_THROW(backend_->mpi_step(*ops, zero_row, {}, nullptr), Error);
}

TEST_F(Gpu, RoutingAgreesWithTheCpu) {
  const MatrixF x = gaussian(512, 256, rng_), router = gaussian(64, 256, rng_) * 0.05f;
  RoutingRule rule;
  rule.renormalize = true;
  const Routing got = backend_->route(x, router, VectorF(), rule, 8);
  const Routing want = route_tokens(x, router, VectorF(), rule, 8);
  EXPECT_LE(rel_err(got.logits, want.logits), 1e-5);
  int differing = 0;
  for (Eigen::Index t = 0; t < x.rows(); ++t)
    differing += (got.experts.row(t) != want.experts.row(t));
  // Only near-ties can flip under float reordering of the products.
  EXPECT_LE(differing, 2);
}

} // namespace
} // namespace routerscope
