#include "core/load_metrics.h"

#include "core/error.h"

#include <cmath>
#include <limits>
#include <string>

namespace routerscope {

namespace {

// The mean load, or NaN when any load is not finite (so every metric of it is NaN).
double mean_load(const VectorD& loads) {
  if (loads.size() == 0)
    throw_internal_error("load metrics: no experts");
  if (!loads.allFinite())
    return std::numeric_limits<double>::quiet_NaN();
  return loads.mean();
}

} // namespace

VectorD expert_loads(const IndexMatrix& experts, int n_experts) {
  VectorD loads = VectorD::Zero(n_experts);
  for (Eigen::Index t = 0; t < experts.rows(); ++t)
    for (Eigen::Index j = 0; j < experts.cols(); ++j) {
      int e = experts(t, j);
      if (e < 0 || e >= n_experts)
        throw_internal_error("expert_loads: expert index " + std::to_string(e) + " outside [0, " +
                             std::to_string(n_experts) + ")");
      loads(e) += 1;
    }
  return loads;
}

double max_vio(const VectorD& loads) {
  double mean = mean_load(loads);
  if (std::isnan(mean))
    return mean;
  return mean > 0 ? (loads.maxCoeff() - mean) / mean : 0.0;
}

double load_imbalance(const VectorD& loads) {
  double mean = mean_load(loads);
  if (std::isnan(mean))
    return mean;
  return mean > 0 ? loads.maxCoeff() / mean : 0.0;
}

double load_cv(const VectorD& loads) {
  double mean = mean_load(loads);
  if (std::isnan(mean))
    return mean;
  if (!(mean > 0))
    return 0.0;
  double var = (loads.array() - mean).square().mean();
  return std::sqrt(var) / mean;
}

double load_entropy(const VectorD& loads) {
  if (std::isnan(mean_load(loads)))
    return std::numeric_limits<double>::quiet_NaN();
  double total = loads.sum();
  if (loads.size() < 2 || !(total > 0))
    return 0.0;
  double h = 0;
  for (Eigen::Index i = 0; i < loads.size(); ++i) {
    double p = loads(i) / total;
    if (p > 0)
      h -= p * std::log(p);
  }
  return h / std::log(double(loads.size()));
}

int dead_experts(const VectorD& loads) {
  return int((loads.array() == 0).count());
}

double switch_lb_loss(const VectorD& loads, const MatrixF& probs, double alpha) {
  if (probs.cols() != loads.size())
    throw_internal_error("switch_lb_loss: probs has " + std::to_string(probs.cols()) +
                         " columns, loads " + std::to_string(loads.size()));
  double slots = loads.sum();
  if (!(slots > 0) || probs.rows() == 0)
    return 0.0;
  VectorD p = probs.cast<double>().colwise().mean().transpose();
  return alpha * double(loads.size()) * (loads / slots).dot(p);
}

double router_z_loss(const MatrixF& logits) {
  if (logits.rows() == 0)
    return 0.0;
  double acc = 0;
  for (Eigen::Index t = 0; t < logits.rows(); ++t) {
    Eigen::VectorXd z = logits.row(t).transpose().cast<double>();
    double m = z.maxCoeff();
    double lse = m + std::log((z.array() - m).exp().sum());
    acc += lse * lse;
  }
  return acc / double(logits.rows());
}

} // namespace routerscope
