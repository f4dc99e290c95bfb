#include "core/mpi_convergence.h"

#include "core/error.h"
#include "core/metrics.h"

#include <cmath>
#include <limits>
#include <string>

namespace routerscope {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Scales each row of r to unit length and adds log of its norm to log_scale (rows that are zero
// or not finite are left as they are).
void carry_scale(MatrixF& r, VectorD& log_scale) {
  for (Eigen::Index i = 0; i < r.rows(); ++i) {
    const double n = r.row(i).cast<double>().norm();
    if (n > 0 && std::isfinite(n)) {
      r.row(i) = (r.row(i).cast<double>() / n).cast<float>();
      log_scale(i) += std::log(n);
    }
  }
}

// The row for step `step`; the true router row i is r.row(i)·exp(log_scale(i)).
ConvergenceRow describe(int step, const MatrixF& r, const VectorD& log_scale,
                        const std::vector<MatrixF>& g, const LayerConvergence& layer,
                        const VectorD& pre_norm, const VectorD& tan0, int power_per_step) {
  const Eigen::Index n = r.rows();
  ConvergenceRow row;
  row.step = step;
  row.cos.resize(n);
  row.lambda.resize(n);
  row.router_norm.resize(n);
  row.tan_theta.resize(n);
  row.tan_bound.resize(n);
  row.pre_norm = pre_norm;
  for (Eigen::Index i = 0; i < n; ++i) {
    const auto& d = layer.directions[size_t(i)];
    VectorF ri = r.row(i).transpose();
    row.router_norm(i) = ri.cast<double>().norm() * std::exp(log_scale(i));
    if (d.status != DirectionStatus::Ok) {
      row.cos(i) = row.lambda(i) = row.tan_theta(i) = row.tan_bound(i) = kNaN;
      continue;
    }
    row.cos(i) = abs_cos(ri, d.u1);
    row.lambda(i) = alignment_lambda(ri, g[size_t(i)], d.sigma1);
    row.tan_theta(i) = tan_from_cos(row.cos(i));
    const double t0 = step == 0 ? row.tan_theta(i) : tan0(i);
    row.tan_bound(i) = std::pow(d.sigma2 / d.sigma1, 2.0 * power_per_step * step) * t0;
  }
  return row;
}

} // namespace

double tan_from_cos(double c) {
  if (std::isnan(c))
    return kNaN;
  if (!(c > 0))
    return std::numeric_limits<double>::infinity();
  return std::sqrt(std::max(0.0, 1 - c * c)) / c;
}

ConvergenceStepper::ConvergenceStepper(int layer, MatrixF r, std::vector<MatrixF> g,
                                       const ConvergenceSettings& settings,
                                       const Progress& progress,
                                       std::vector<PrincipalDirection> directions)
    : g_(std::move(g)), mpi_(settings.mpi), backend_(settings.backend) {
  if (static_cast<std::size_t>(r.rows()) != g_.size())
    throw_input_error("MPI convergence: layer " + std::to_string(layer) + " router has " +
                      std::to_string(r.rows()) + " rows but " + std::to_string(g_.size()) +
                      " experts");
  if (!backend_)
    backend_ = (cpu_ = make_cpu_backend()).get();
  ops_ = backend_->upload(g_);
  out_.layer = layer;
  out_.directions = directions.empty()
                        ? backend_->principal_directions(*ops_, settings.spectral, progress)
                        : std::move(directions);
  per_step_ = mpi_.ablation == MpiSettings::Ablation::NoPower ? 0 : mpi_.power_steps;
  // Without retraction the rows grow or shrink like σ₁^{2kt}: in float they overflow (σ₁ ≈ 3)
  // or underflow to zero (σ₁ ≈ 0.05) within tens of steps. They are carried at unit length with
  // a separate log-scale instead; every metric except the norms is scale-invariant.
  carried_ = mpi_.ablation == MpiSettings::Ablation::NoRetract;
  current_ = std::move(r);
  log_scale_ = VectorD::Zero(current_.rows());
  if (carried_)
    carry_scale(current_, log_scale_);
  const VectorD none = VectorD::Constant(current_.rows(), kNaN);
  out_.rows.push_back(describe(0, current_, log_scale_, g_, out_, none, none, per_step_));
  tan0_ = out_.rows.front().tan_theta;
}

ConvergenceStepper::~ConvergenceStepper() = default;

const ConvergenceRow& ConvergenceStepper::step() {
  VectorD pre;
  current_ = backend_->mpi_step(*ops_, current_, mpi_, &pre);
  if (carried_) {
    pre.array() *= log_scale_.array().exp();
    carry_scale(current_, log_scale_);
  }
  const int t = int(out_.rows.size());
  out_.rows.push_back(describe(t, current_, log_scale_, g_, out_, pre, tan0_, per_step_));
  return out_.rows.back();
}

MatrixF ConvergenceStepper::router() const {
  if (!carried_)
    return current_;
  MatrixF r = current_;
  for (Eigen::Index i = 0; i < r.rows(); ++i)
    r.row(i) = (r.row(i).cast<double>() * std::exp(log_scale_(i))).cast<float>();
  return r;
}

namespace {

// Steps `stepper` to settings.steps (or until cancelled), calling back after each row.
LayerConvergence run_steps(ConvergenceStepper& stepper, const ConvergenceSettings& settings,
                           const ConvergenceCallback& callback, const Progress& progress) {
  if (callback)
    callback(stepper.result(), stepper.result().rows.back());
  for (int t = 1; t <= settings.steps; ++t) {
    if (progress.cancelled())
      break;
    stepper.step();
    if (callback)
      callback(stepper.result(), stepper.result().rows.back());
  }
  return stepper.take();
}

void check_steps(const ConvergenceSettings& settings) {
  if (settings.steps < 0)
    throw_input_error("MPI convergence: steps must be >= 0, got " + std::to_string(settings.steps));
}

} // namespace

LayerConvergence converge_layer(int layer, const MatrixF& r, const std::vector<MatrixF>& g,
                                const ConvergenceSettings& settings,
                                const ConvergenceCallback& callback, const Progress& progress) {
  check_steps(settings);
  ConvergenceStepper stepper(layer, r, g, settings, progress);
  return run_steps(stepper, settings, callback, progress);
}

bool within_bound(double tan_theta, double tan_bound) {
  if (std::isnan(tan_theta) || std::isnan(tan_bound))
    return false;
  return tan_theta <= tan_bound * (1.0 + 1e-3) + 8.0 * std::numeric_limits<float>::epsilon();
}

std::vector<LayerConvergence> mpi_convergence(const MoeModel& model,
                                              const ConvergenceSettings& settings,
                                              const ConvergenceCallback& callback,
                                              const Progress& progress) {
  const ModelInfo& info = model.info();
  std::vector<int> layers = settings.layers.empty() ? info.moe_layers() : settings.layers;
  std::vector<LayerConvergence> out;
  for (size_t li = 0; li < layers.size(); ++li) {
    if (progress.cancelled())
      break;
    const int l = layers[li];
    info.moe_layer(l); // BadInput for a dense layer
    MatrixF r = model.router(l);
    std::vector<MatrixF> g = load_direction_operators(model, l, settings.mpi.matrix);
    check_mpi_inputs(model, l, r, g, settings.mpi.matrix);
    check_steps(settings);
    ConvergenceStepper stepper(l, std::move(r), std::move(g), settings, progress);
    out.push_back(run_steps(stepper, settings, callback, progress));
    progress(double(li + 1) / double(layers.size()), "layer " + std::to_string(l));
  }
  return out;
}

} // namespace routerscope
