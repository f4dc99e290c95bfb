// CUDA backend against the CPU reference (core) and against decoders written from the format
// definitions. Links only core, gpu and the CUDA libraries, so it runs on a GPU machine that has
// nothing else installed. Every test skips, printing why, when no GPU is usable.
#include "core/compute_backend.h"
#include "core/error.h"
#include "core/mpi.h"
#include "core/routing.h"
#include "core/spectral.h"
#include "gpu/cuda_backend.h"
#include "gpu/decode.h"

#include <Eigen/QR>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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

// ---------------------------------------------------------------- decoding

template <class T> std::span<const std::uint8_t> bytes_of(const std::vector<T>& v) {
  return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(T)};
}

TEST_F(Gpu, DecodesEveryFp8AndHalfPatternAsTheFormatsDefineThem) {
  // All 256 byte patterns (E4M3, E5M2) and 65,536 half/bfloat patterns, one row each.
  std::vector<std::uint8_t> all8(256);
  for (int i = 0; i < 256; ++i)
    all8[size_t(i)] = std::uint8_t(i);
  std::vector<std::uint16_t> all16(65536);
  for (int i = 0; i < 65536; ++i)
    all16[size_t(i)] = std::uint16_t(i);
  auto same = [](float got, double want, const std::string& what) {
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(got)) << what;
    else
      EXPECT_EQ(double(got), want) << what;
  };
  const auto e4m3 = gpu::decode_on_device({gpu::RawDtype::F8E4M3, all8, {}, 16, 16});
  const auto e5m2 = gpu::decode_on_device({gpu::RawDtype::F8E5M2, all8, {}, 16, 16});
  for (int i = 0; i < 256; ++i) {
    const int sign = i & 0x80 ? -1 : 1, e = (i >> 3) & 0xF, m = i & 7;
    // OCP FP8 E4M3 (bias 7, no infinities, S.1111.111 is NaN).
    const double want4 = (e == 15 && m == 7) ? NAN
                         : e == 0            ? sign * std::pow(2.0, -6) * (m / 8.0)
                                             : sign * std::pow(2.0, e - 7) * (1 + m / 8.0);
    same(e4m3[size_t(i)], want4, "E4M3 byte " + std::to_string(i));
    // E5M2 is IEEE binary16 with the low mantissa byte dropped.
    const std::uint16_t h = std::uint16_t(i << 8);
    _Float16 f16;
    std::memcpy(&f16, &h, 2);
    same(e5m2[size_t(i)], std::isnan(double(f16)) ? NAN : double(f16),
         "E5M2 byte " + std::to_string(i));
  }
  EXPECT_EQ(e4m3[0x7E], 448.0f); // the format's largest finite value
  const auto f16 = gpu::decode_on_device({gpu::RawDtype::F16, bytes_of(all16), {}, 256, 256});
  const auto bf16 = gpu::decode_on_device({gpu::RawDtype::BF16, bytes_of(all16), {}, 256, 256});
  for (int i = 0; i < 65536; ++i) {
    _Float16 h;
    std::memcpy(&h, &all16[size_t(i)], 2);
    const double want_h = double(h);
    same(f16[size_t(i)], std::isnan(want_h) ? NAN : want_h, "F16 " + std::to_string(i));
    const std::uint32_t bits = std::uint32_t(i) << 16;
    float want_b;
    std::memcpy(&want_b, &bits, 4);
    same(bf16[size_t(i)], std::isnan(want_b) ? NAN : double(want_b), "BF16 " + std::to_string(i));
  }
}

TEST_F(Gpu, AppliesFp8BlockScalesWithPartialEdgeBlocksAndMxfp4Scales) {
  // FP8 [200, 300] with 2 x 3 block scales: the last row and column blocks are partial.
  const int rows = 200, cols = 300;
  std::vector<std::uint8_t> q(size_t(rows) * cols);
  std::uniform_int_distribution<int> byte(0, 0x7D); // positive finite E4M3
  for (auto& b : q)
    b = std::uint8_t(byte(rng_));
  std::vector<float> scales = {0.5f, 2.0f, -1.0f, 4.0f, 0.25f, 8.0f};
  const auto plain = gpu::decode_on_device({gpu::RawDtype::F8E4M3, q, {}, rows, cols});
  const auto scaled =
      gpu::decode_on_device({gpu::RawDtype::F8E4M3, q, bytes_of(scales), rows, cols});
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const size_t i = size_t(r) * cols + c;
      ASSERT_EQ(scaled[i], plain[i] * scales[size_t((r / 128) * 3 + c / 128)]) << r << "," << c;
    }
  // MXFP4: [3, 64] = 3 rows x 2 blocks of 32 values; E2M1 nibbles, low nibble first.
  const float e2m1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0f, -0.5, -1, -1.5, -2, -3, -4, -6};
  std::vector<std::uint8_t> blocks(6 * 16), mx_scales(6);
  for (auto& b : blocks)
    b = std::uint8_t(rng_());
  for (int i = 0; i < 6; ++i)
    mx_scales[size_t(i)] = std::uint8_t(120 + 2 * i); // 2^-7 .. 2^3
  const auto mx = gpu::decode_on_device({gpu::RawDtype::MXFP4, blocks, mx_scales, 3, 64});
  for (int i = 0; i < 3 * 64; ++i) {
    const int block = i / 32, within = i % 32;
    const std::uint8_t byte = blocks[size_t(block * 16 + within / 2)];
    const int nibble = within % 2 ? byte >> 4 : byte & 0xF;
    EXPECT_EQ(mx[size_t(i)], std::ldexp(e2m1[nibble], int(mx_scales[size_t(block)]) - 127)) << i;
  }
  EXPECT_THROW(gpu::decode_on_device({gpu::RawDtype::MXFP4, blocks, mx_scales, 3, 60}), Error);
  EXPECT_THROW(gpu::decode_on_device({gpu::RawDtype::BF16, blocks, {}, 7, 7}), Error);
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
