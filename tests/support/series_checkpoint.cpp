#include "tests/support/series_checkpoint.h"

#include <Eigen/QR>

#include <cmath>
#include <random>
#include <string>

namespace routerscope::test {

namespace {

// A random orthogonal n × n matrix (Q of a seeded Gaussian matrix), in double.
Eigen::MatrixXd orthogonal(int n, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Eigen::MatrixXd a(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      a(i, j) = normal(rng);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
  return qr.householderQ();
}

} // namespace

PlantedSeriesCheckpoint write_planted_series_checkpoint(const std::filesystem::path& dir,
                                                        const PlantedSeriesSpec& spec) {
  FamilySpec fs;
  fs.family = "mixtral";
  fs.layers = spec.layers;
  fs.experts = spec.experts;
  fs.top_k = spec.top_k;
  fs.d_model = spec.d_model;
  fs.d_expert = spec.d_expert;
  fs.seed = spec.seed;
  PlantedSeriesCheckpoint out;
  std::mt19937_64 rng(spec.seed);
  const int D = spec.d_model, d = spec.d_expert;
  for (int l = 0; l < spec.layers; ++l) {
    const std::string base = "model.layers." + std::to_string(l) + ".block_sparse_moe.";
    MatrixF router(spec.experts, D);
    std::vector<PlantedExpertValues> values;
    for (int e = 0; e < spec.experts; ++e) {
      const Eigen::MatrixXd U = orthogonal(d, rng), V = orthogonal(D, rng);
      const double s1 = spec.weight_scale * (1.5 + 0.5 * e + 0.25 * l);
      const double rho = 0.3 + 0.1 * e; // σ₂/σ₁
      Eigen::MatrixXd g = Eigen::MatrixXd::Zero(d, D);
      double frob2 = 0;
      for (int j = 0; j < d; ++j) {
        const double s = j == 0 ? s1 : s1 * rho * std::pow(0.8, j - 1);
        g += s * U.col(j) * V.col(j).transpose();
        frob2 += s * s;
      }
      const double theta = spec.angle_scale * (0.25 + 0.3 * e + 0.15 * l); // radians
      const double r = 0.5 + 0.25 * e;
      const Eigen::VectorXd row = r * (std::cos(theta) * V.col(0) + std::sin(theta) * V.col(1));
      router.row(e) = row.transpose().cast<float>();
      fs.replace[base + "experts." + std::to_string(e) + ".w1.weight"] = g.cast<float>();
      const double c = std::cos(theta), s = std::sin(theta);
      values.push_back(
          {std::abs(c), std::sqrt(c * c + s * s * rho * rho), s1, rho, r, std::sqrt(frob2)});
    }
    fs.replace[base + "gate.weight"] = router;
    out.expected.push_back(std::move(values));
  }
  out.files = write_family_checkpoint(dir, fs);
  return out;
}

} // namespace routerscope::test
