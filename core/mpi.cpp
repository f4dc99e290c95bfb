#include "core/mpi.h"

#include "core/enum_names.h"
#include "core/error.h"
#include "core/parallel.h"

#include <cmath>
#include <string>

namespace routerscope {

namespace {

using RowD = Eigen::VectorXd;

// M·v with M = GᵀG, never forming the D×D matrix (two matrix–vector products).
// Products run in float (the weights' precision); the row vectors are carried in double.
RowD apply_gram(const MatrixF& g, const RowD& v) {
  VectorF h = g * v.cast<float>();
  VectorF out = g.transpose() * h;
  return out.cast<double>();
}

// The forward pass of one row: v = (GᵀG)^k r up to the positive factor exp(log_scale)⁻¹.
// Intermediate steps are rescaled to unit length (stored in norms) so that many power steps do
// not overflow; the retraction is scale-invariant, so R′ does not change.
struct RowPass {
  RowD v;
  double log_scale = 0;      // true vector = v · exp(log_scale)
  std::vector<double> norms; // norms of the k−1 intermediate vectors (retracting variants)
};

void check_settings(const MpiSettings& s) {
  if (s.power_steps < 1 && s.ablation != MpiSettings::Ablation::NoPower)
    throw_input_error("MPI: power steps must be >= 1, got " + std::to_string(s.power_steps));
  if (!(s.c_prime > 0))
    throw_input_error("MPI: C′ must be positive, got " + std::to_string(s.c_prime));
}

void check_shapes(const MatrixF& r, const std::vector<MatrixF>& g, const MpiSettings& s) {
  if (static_cast<std::size_t>(r.rows()) != g.size())
    throw_input_error("MPI: router has " + std::to_string(r.rows()) + " rows but " +
                      std::to_string(g.size()) + " expert matrices were given");
  for (std::size_t i = 0; i < g.size(); ++i)
    if (g[i].cols() != r.cols())
      throw_input_error("MPI: expert " + std::to_string(i) + " matrix has " +
                        std::to_string(g[i].cols()) +
                        " columns, expected D = " + std::to_string(r.cols()));
  check_settings(s);
}

RowPass forward_row(const RowD& r, const MatrixF& g, const MpiSettings& s) {
  RowPass p;
  p.v = r;
  if (s.ablation == MpiSettings::Ablation::NoPower)
    return p;
  const bool rescale = s.ablation == MpiSettings::Ablation::None;
  for (int step = 0; step < s.power_steps; ++step) {
    p.v = apply_gram(g, p.v);
    if (rescale && step + 1 < s.power_steps) {
      double n = p.v.norm();
      if (!(n > 0))
        break;
      p.v /= n;
      p.log_scale += std::log(n);
      p.norms.push_back(n);
    }
  }
  return p;
}

double checked_norm(const RowD& v, Eigen::Index i) {
  double n = v.norm();
  if (!std::isfinite(n))
    throw_input_error("MPI: expert " + std::to_string(i) + ": the vector to retract has norm " +
                      std::to_string(n) +
                      ": the expert's weight matrix or the router row holds NaN or Inf, or "
                      "values so large that (GᵀG)^k r overflows; R′ is undefined");
  if (!(n > 0))
    throw_input_error("MPI: expert " + std::to_string(i) +
                      ": the vector to retract is zero (router row zero or in the null space of "
                      "GᵀG, or an all-zero weight matrix); R′ is undefined");
  return n;
}

} // namespace

double MpiSettings::radius(int experts) const {
  if (scoring == Scoring::Sigmoid)
    return 1.0;
  return c_prime / std::sqrt(static_cast<double>(experts));
}

namespace {
constexpr NameTable<MpiSettings::Ablation, 3> kAblationNames{{
    {MpiSettings::Ablation::None, "none"},
    {MpiSettings::Ablation::NoPower, "no-power"},
    {MpiSettings::Ablation::NoRetract, "no-retract"},
}};
} // namespace

std::string_view to_string(MpiSettings::Ablation a) {
  return name_of(kAblationNames, a);
}

MpiSettings::Ablation parse_ablation(std::string_view text) {
  return parse_name(kAblationNames, text, "MPI ablation");
}

std::vector<MatrixF> load_direction_operators(const MoeModel& model, int layer, ExpertMatrix m) {
  const LayerInfo& li = model.info().layer(layer);
  std::vector<MatrixF> out;
  out.reserve(static_cast<std::size_t>(li.experts));
  for (int e = 0; e < li.experts; ++e)
    out.push_back(direction_operator(model, layer, e, m));
  return out;
}

void check_mpi_inputs(const MoeModel& model, int layer, const MatrixF& r,
                      const std::vector<MatrixF>& g, ExpertMatrix m) {
  auto where = [&](int e, const std::string& what, const std::string& tensor) {
    return model.info().path + ": layer " + std::to_string(layer) + ", expert " +
           std::to_string(e) + ": " + what + (tensor.empty() ? "" : " (tensor " + tensor + ")");
  };
  for (Eigen::Index i = 0; i < r.rows(); ++i) {
    const int e = static_cast<int>(i);
    if (!r.row(i).allFinite())
      throw_input_error(where(e, "the router row " + std::to_string(e) + " holds NaN or Inf",
                              model.router_tensor(layer)) +
                        "; the MPI router R′ is undefined for it");
    if (size_t(i) < g.size() && !g[size_t(i)].allFinite())
      throw_input_error(
          where(e, "the expert's " + std::string(to_string(m)) + " weights hold NaN or Inf",
                model.expert_tensor(layer, e, m)) +
          "; the MPI router R′ is undefined for it (the router is not at fault)");
  }
}

MatrixF mpi_router(const MatrixF& r, const std::vector<MatrixF>& g, const MpiSettings& settings,
                   VectorD* pre_norms) {
  check_shapes(r, g, settings);
  MatrixF out(r.rows(), r.cols());
  if (pre_norms)
    pre_norms->resize(r.rows());
  // Rows are independent (one expert each): run them in parallel.
  parallel_for(static_cast<int>(r.rows()), 0, [&](int i) {
    out.row(i) =
        mpi_router_row(r.row(i).transpose(), g[static_cast<std::size_t>(i)], settings,
                       static_cast<int>(r.rows()), i, pre_norms ? &(*pre_norms)(i) : nullptr)
            .transpose();
  });
  return out;
}

VectorF mpi_router_row(const VectorF& row, const MatrixF& g, const MpiSettings& settings,
                       int experts, int expert_index, double* pre_norm) {
  if (g.cols() != row.size())
    throw_input_error("MPI: expert " + std::to_string(expert_index) + " matrix has " +
                      std::to_string(g.cols()) +
                      " columns, expected D = " + std::to_string(row.size()));
  check_settings(settings);
  RowPass p = forward_row(row.cast<double>(), g, settings);
  if (pre_norm)
    *pre_norm = p.v.norm() * std::exp(p.log_scale);
  if (settings.ablation == MpiSettings::Ablation::NoRetract)
    return p.v.cast<float>();
  return (settings.radius(experts) * p.v / checked_norm(p.v, expert_index)).cast<float>();
}

VectorD mpi_pre_retraction_norms(const MatrixF& r, const std::vector<MatrixF>& g,
                                 const MpiSettings& settings) {
  check_shapes(r, g, settings);
  VectorD out(r.rows());
  for (Eigen::Index i = 0; i < r.rows(); ++i) {
    RowPass p =
        forward_row(r.row(i).transpose().cast<double>(), g[static_cast<std::size_t>(i)], settings);
    out(i) = p.v.norm() * std::exp(p.log_scale);
  }
  return out;
}

MatrixF mpi_backward(const MatrixF& r, const std::vector<MatrixF>& g, const MpiSettings& settings,
                     const MatrixF& grad_routed) {
  check_shapes(r, g, settings);
  if (grad_routed.rows() != r.rows() || grad_routed.cols() != r.cols())
    throw_internal_error("mpi_backward: gradient is [" + std::to_string(grad_routed.rows()) + ", " +
                         std::to_string(grad_routed.cols()) + "], expected [" +
                         std::to_string(r.rows()) + ", " + std::to_string(r.cols()) + "]");
  const double c = settings.radius(static_cast<int>(r.rows()));
  MatrixF out(r.rows(), r.cols());
  parallel_for(static_cast<int>(r.rows()), 0, [&](int i) {
    const auto& gi = g[static_cast<std::size_t>(i)];
    RowD b = grad_routed.row(i).transpose().cast<double>();
    if (settings.ablation == MpiSettings::Ablation::NoRetract) {
      // R′ = M^k R with M symmetric: dL/dR = M^k dL/dR′.
      for (int step = 0; step < settings.power_steps; ++step)
        b = apply_gram(gi, b);
      out.row(i) = b.transpose().cast<float>();
      return;
    }
    RowPass p =
        forward_row(r.row(i).transpose().cast<double>(), g[static_cast<std::size_t>(i)], settings);
    // Retraction y = C·v/‖v‖: Jacobian (C/‖v‖)(I − v̂v̂ᵀ), symmetric.
    double n = checked_norm(p.v, i);
    RowD vh = p.v / n;
    b = (c / n) * (b - vh * vh.dot(b));
    if (settings.ablation == MpiSettings::Ablation::None) {
      // Back through the k power steps; the rescaling by the intermediate norms is the same
      // positive factor the forward pass divided out (applied step by step to stay in range).
      for (int step = settings.power_steps - 1; step >= 0; --step) {
        b = apply_gram(gi, b);
        if (step > 0)
          b /= p.norms[static_cast<std::size_t>(step - 1)];
      }
    }
    out.row(i) = b.transpose().cast<float>();
  });
  return out;
}

} // namespace routerscope
