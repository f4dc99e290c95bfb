// Finite but huge or tiny weights (issue 15, finding 5): one BF16 weight of 1e20 made the float
// products with GᵀG overflow ("TridiagEigen: eigen decomposition failed", exit 1). The solver now
// scales G by a power of two; σ and u₁ are checked against a double-precision SVD of the same G.
#include "core/spectral.h"
#include "tests/support/test_support.h"

#include <Eigen/SVD>
#include <bit>
#include <cmath>
#include <gtest/gtest.h>

namespace routerscope {
namespace {

struct Reference {
  double sigma1, sigma2;
  Eigen::VectorXd u1;
};

Reference svd_of(const MatrixF& g) {
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(g.cast<double>(), Eigen::ComputeThinV);
  return {svd.singularValues()(0), svd.singularValues()(1), svd.matrixV().col(0)};
}

// check_sigma2: false where σ₂/σ₁ is below what a Gram matrix resolves (σ₂² under ε·σ₁²), so σ₂
// is only required to be finite and at most σ₁.
void expect_matches(const PrincipalDirection& pd, const Reference& ref, const char* what,
                    bool check_sigma2 = true) {
  ASSERT_EQ(pd.status, DirectionStatus::Ok) << what << ": " << to_string(pd.status);
  EXPECT_NEAR(pd.sigma1 / ref.sigma1, 1.0, 1e-5) << what;
  if (check_sigma2) {
    EXPECT_NEAR(pd.sigma2 / ref.sigma2, 1.0, 1e-4) << what;
  }
  EXPECT_TRUE(std::isfinite(pd.sigma2) && pd.sigma2 >= 0 && pd.sigma2 <= pd.sigma1) << what;
  const double cos = std::abs(pd.u1.cast<double>().dot(ref.u1));
  EXPECT_NEAR(cos, 1.0, 1e-5) << what;
}

MatrixF matrix_with_entry(float scale_all, float big) {
  MatrixF g = test::planted_matrix(24, 40, {3.0, 1.5, 1.0, 0.5}, 7).g;
  g *= scale_all;
  g(3, 5) = big;
  return g;
}

TEST(SpectralScaling, HugeFiniteWeightMatchesDoubleSvdWithEveryMethod) {
  const MatrixF g = matrix_with_entry(1.0f, 1e20f);
  const Reference ref = svd_of(g);
  for (SpectralMethod m : {SpectralMethod::Exact, SpectralMethod::Lanczos, SpectralMethod::Power}) {
    SpectralOptions o;
    o.method = m;
    expect_matches(principal_direction(g, o), ref, std::string(to_string(m)).c_str(), false);
  }
}

TEST(SpectralScaling, HugeBf16WeightMatchesDoubleSvd) {
  MatrixF g = matrix_with_entry(1.0f, 1e20f);
  std::vector<std::uint16_t> bits(static_cast<std::size_t>(g.size()));
  for (Eigen::Index i = 0; i < g.size(); ++i) {
    bits[static_cast<std::size_t>(i)] =
        static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(g.data()[i]) >> 16);
    g.data()[i] = std::bit_cast<float>(std::uint32_t(bits[static_cast<std::size_t>(i)]) << 16);
  }
  const Reference ref = svd_of(g); // of the BF16-rounded values
  expect_matches(principal_direction(Bf16Matrix{bits.data(), int(g.rows()), int(g.cols())}), ref,
                 "bf16 lanczos", false);
}

TEST(SpectralScaling, TinyWeightsMatchDoubleSvd) {
  const MatrixF g = matrix_with_entry(1e-25f, 2e-25f);
  expect_matches(principal_direction(g), svd_of(g), "tiny");
}

} // namespace
} // namespace routerscope
