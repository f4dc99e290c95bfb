#include "tests/support/mpi_oracle.h"

#include <cmath>

namespace routerscope::test {

MatrixD mpi_oracle(const MatrixD& r, const std::vector<MatrixD>& g, const MpiSettings& s) {
  const double c = s.scoring == Scoring::Sigmoid ? 1.0 : s.c_prime / std::sqrt(double(r.rows()));
  MatrixD out(r.rows(), r.cols());
  for (Eigen::Index i = 0; i < r.rows(); ++i) {
    const MatrixD m = g[size_t(i)].transpose() * g[size_t(i)];
    Eigen::VectorXd v = r.row(i).transpose();
    if (s.ablation != MpiSettings::Ablation::NoPower)
      for (int k = 0; k < s.power_steps; ++k)
        v = m * v;
    if (s.ablation != MpiSettings::Ablation::NoRetract)
      v = c * v / v.norm();
    out.row(i) = v.transpose();
  }
  return out;
}

MatrixD mpi_oracle(const MatrixF& r, const std::vector<MatrixF>& g, const MpiSettings& s) {
  std::vector<MatrixD> gd;
  gd.reserve(g.size());
  for (const MatrixF& m : g)
    gd.push_back(m.cast<double>());
  return mpi_oracle(MatrixD(r.cast<double>()), gd, s);
}

} // namespace routerscope::test
