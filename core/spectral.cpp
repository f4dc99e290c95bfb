#include "core/spectral.h"

#include "core/error.h"

#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>
#include <algorithm>
#include <cmath>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ROUTERSCOPE_X86_DISPATCH 1
#endif

namespace routerscope {

std::string_view to_string(SpectralMethod m) {
  switch (m) {
  case SpectralMethod::Exact:
    return "exact";
  case SpectralMethod::Lanczos:
    return "lanczos";
  case SpectralMethod::Power:
    return "power";
  }
  return "lanczos";
}

SpectralMethod parse_spectral_method(std::string_view text) {
  if (text == "exact")
    return SpectralMethod::Exact;
  if (text == "lanczos")
    return SpectralMethod::Lanczos;
  if (text == "power")
    return SpectralMethod::Power;
  throw_input_error("unknown spectral method '" + std::string(text) +
                    "': expected exact, lanczos or power");
}

std::string_view to_string(DirectionStatus s) {
  switch (s) {
  case DirectionStatus::Ok:
    return "ok";
  case DirectionStatus::Degenerate:
    return "degenerate";
  case DirectionStatus::Zero:
    return "zero";
  case DirectionStatus::NonFinite:
    return "non_finite";
  case DirectionStatus::NotConverged:
    return "not_converged";
  }
  return "ok";
}

double degenerate_gap_threshold(const SpectralOptions& options) {
  if (options.method == SpectralMethod::Exact)
    return kDegenerateFloor;
  return std::max(kDegenerateFloor, 10.0 * options.tolerance);
}

namespace {

// ---- y = Gᵀ(G x) in one pass over G: per row, t = g_i·x, then y += t·g_i while g_i is in L1. ----

void gram_apply_generic(const MatrixF& g, const float* x, float* y) {
  const Eigen::Index n = g.cols();
  Eigen::Map<const VectorF> xv(x, n);
  Eigen::Map<VectorF> yv(y, n);
  yv.setZero();
  for (Eigen::Index i = 0; i < g.rows(); ++i) {
    const float t = g.row(i).dot(xv.transpose());
    yv.noalias() += t * g.row(i).transpose();
  }
}

#ifdef ROUTERSCOPE_X86_DISPATCH
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four rows at a time: x is loaded once for four dot products and y once for four updates.
__attribute__((target("avx2,fma"))) void gram_apply_avx2(const MatrixF& g, const float* x,
                                                         float* y) {
  const int n = static_cast<int>(g.cols());
  const int rows = static_cast<int>(g.rows());
  const int n8 = n & ~7;
  std::fill(y, y + n, 0.0f);
  int i = 0;
  for (; i + 4 <= rows; i += 4) {
    const float* r0 = g.data() + static_cast<std::ptrdiff_t>(i) * n;
    const float* r1 = r0 + n;
    const float* r2 = r1 + n;
    const float* r3 = r2 + n;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    for (int j = 0; j < n8; j += 8) {
      const __m256 xv = _mm256_loadu_ps(x + j);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + j), xv, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + j), xv, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + j), xv, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + j), xv, a3);
    }
    float t0 = hsum(a0), t1 = hsum(a1), t2 = hsum(a2), t3 = hsum(a3);
    for (int j = n8; j < n; ++j) {
      t0 += r0[j] * x[j];
      t1 += r1[j] * x[j];
      t2 += r2[j] * x[j];
      t3 += r3[j] * x[j];
    }
    const __m256 b0 = _mm256_set1_ps(t0), b1 = _mm256_set1_ps(t1), b2 = _mm256_set1_ps(t2),
                 b3 = _mm256_set1_ps(t3);
    for (int j = 0; j < n8; j += 8) {
      __m256 yv = _mm256_loadu_ps(y + j);
      yv = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + j), b0, yv);
      yv = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + j), b1, yv);
      yv = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + j), b2, yv);
      yv = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + j), b3, yv);
      _mm256_storeu_ps(y + j, yv);
    }
    for (int j = n8; j < n; ++j)
      y[j] += r0[j] * t0 + r1[j] * t1 + r2[j] * t2 + r3[j] * t3;
  }
  for (; i < rows; ++i) {
    const float* r = g.data() + static_cast<std::ptrdiff_t>(i) * n;
    float t = 0;
    for (int j = 0; j < n; ++j)
      t += r[j] * x[j];
    for (int j = 0; j < n; ++j)
      y[j] += r[j] * t;
  }
}

bool have_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
#endif

void gram_apply(const MatrixF& g, const float* x, float* y) {
#ifdef ROUTERSCOPE_X86_DISPATCH
  if (have_avx2_fma()) {
    gram_apply_avx2(g, x, y);
    return;
  }
#endif
  gram_apply_generic(g, x, y);
}

// GᵀG as a Spectra operator: double vectors (orthogonalisation in double), float products.
class GramOperator {
public:
  using Scalar = double;
  explicit GramOperator(const MatrixF& g) : g_(g), x_(g.cols()), y_(g.cols()) {}
  Eigen::Index rows() const { return g_.cols(); }
  Eigen::Index cols() const { return g_.cols(); }
  void perform_op(const double* x_in, double* y_out) const {
    const Eigen::Index n = g_.cols();
    x_ = Eigen::Map<const VectorD>(x_in, n).cast<float>();
    gram_apply(g_, x_.data(), y_.data());
    Eigen::Map<VectorD>(y_out, n) = y_.cast<double>();
    ++products_;
  }
  int products() const { return products_; }

private:
  const MatrixF& g_;
  mutable VectorF x_, y_;
  mutable int products_ = 0;
};

// u₁'s sign: the entry of largest magnitude is positive (first such entry on ties).
void fix_sign(VectorD& u) {
  Eigen::Index k = 0;
  u.cwiseAbs().maxCoeff(&k);
  if (u(k) < 0)
    u = -u;
}

// Sets status from σ₁, σ₂ and stores u when the direction is well defined.
void finish(PrincipalDirection& pd, VectorD u, const SpectralOptions& options) {
  if (pd.status != DirectionStatus::Ok)
    return;
  if (!(pd.sigma1 > 0)) {
    pd.status = DirectionStatus::Zero;
    return;
  }
  if ((pd.sigma1 - pd.sigma2) / pd.sigma1 < degenerate_gap_threshold(options)) {
    pd.status = DirectionStatus::Degenerate;
    return;
  }
  u.normalize();
  fix_sign(u);
  pd.u1 = u.cast<float>();
}

double sqrt_clamped(double lambda) {
  return std::sqrt(std::max(lambda, 0.0));
}

// Exact: symmetric eigensolver in double on the smaller Gram matrix (GGᵀ when rows < D).
PrincipalDirection exact_direction(const MatrixF& g, const SpectralOptions& options) {
  PrincipalDirection pd;
  const Eigen::MatrixXd gd = g.cast<double>();
  const bool row_side = g.rows() < g.cols();
  Eigen::MatrixXd gram =
      row_side ? Eigen::MatrixXd(gd * gd.transpose()) : Eigen::MatrixXd(gd.transpose() * gd);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(gram);
  if (es.info() != Eigen::Success) {
    pd.status = DirectionStatus::NotConverged;
    return pd;
  }
  const Eigen::Index m = gram.rows();
  pd.sigma1 = sqrt_clamped(es.eigenvalues()(m - 1));
  pd.sigma2 = m >= 2 ? sqrt_clamped(es.eigenvalues()(m - 2)) : 0.0;
  VectorD u = row_side ? VectorD(gd.transpose() * es.eigenvectors().col(m - 1))
                       : VectorD(es.eigenvectors().col(m - 1));
  finish(pd, std::move(u), options);
  return pd;
}

PrincipalDirection lanczos_direction(const MatrixF& g, const SpectralOptions& options) {
  PrincipalDirection pd;
  const Eigen::Index n = g.cols();
  if (n <= 2 || g.rows() < 2) // Spectra needs nev < ncv <= n; tiny cases are cheap exactly.
    return exact_direction(g, options);
  const Eigen::Index nev = 2;
  Eigen::Index ncv = options.krylov_dim > 0 ? options.krylov_dim : 12;
  ncv = std::clamp<Eigen::Index>(ncv, nev + 1, n);
  GramOperator op(g);
  Spectra::SymEigsSolver<GramOperator> solver(op, nev, ncv);
  solver.init();
  // Spectra counts restarts; each restart costs ncv − nev products (the first ncv).
  const Eigen::Index restarts =
      std::max<Eigen::Index>(1, (options.max_iterations - ncv) / (ncv - nev) + 1);
  solver.compute(Spectra::SortRule::LargestAlge, restarts, options.tolerance);
  pd.iterations = op.products();
  if (solver.info() != Spectra::CompInfo::Successful) {
    pd.status = DirectionStatus::NotConverged;
    return pd;
  }
  const VectorD vals = solver.eigenvalues();
  pd.sigma1 = sqrt_clamped(vals(0));
  pd.sigma2 = sqrt_clamped(vals(1));
  finish(pd, solver.eigenvectors().col(0), options);
  return pd;
}

// Float products limit how still an iterate can get: below this change per step, rounding, not
// convergence, is what moves it.
constexpr double kPowerNoiseFloor = 32.0 * 1.1920928955078125e-07;

// Power iteration on A = GᵀG (deflated against `against` when given: every iterate is projected
// orthogonal to it) from `u`. It stops when the estimated distance to the limit, c·q/(1 − q) with c
// the last change and q the observed contraction of successive changes, is below tol; c is
// ‖u_{k+1} − u_k‖ with vector_test, else the Rayleigh quotient's relative change. Returns the
// Rayleigh quotient, or a negative value when the budget is spent.
double power_iterate(const MatrixF& g, VectorD& u, const VectorD* against, bool vector_test,
                     double tol, int budget, int& products) {
  tol = std::max(tol, kPowerNoiseFloor);
  VectorF xf(g.cols()), yf(g.cols());
  auto project = [&](VectorD& v) {
    if (against)
      v -= against->dot(v) * *against;
  };
  project(u);
  if (!(u.norm() > 0))
    return 0.0;
  u.normalize();
  double last_change = 0, last_rayleigh = 0;
  for (int k = 0; k < budget; ++k) {
    xf = u.cast<float>();
    gram_apply(g, xf.data(), yf.data());
    ++products;
    VectorD v = yf.cast<double>();
    project(v);
    const double rayleigh = u.dot(v);
    const double norm = v.norm();
    if (!(norm > 0))
      return 0.0;
    v /= norm;
    // The watched quantity and its change this step; the remaining distance to the limit of a
    // geometrically converging sequence is change·q/(1 − q), q the ratio of successive changes.
    const double change =
        vector_test ? (v - u).norm()
                    : (k > 0 ? std::abs(rayleigh - last_rayleigh) / std::abs(rayleigh) : 1.0);
    u = std::move(v);
    last_rayleigh = rayleigh;
    if (change == 0.0)
      return rayleigh;
    if (k >= 2 && last_change > 0) {
      const double q = std::min(change / last_change, 0.999);
      if (change * q / (1.0 - q) < tol)
        return rayleigh;
    }
    last_change = change;
  }
  return -1.0;
}

// Power: u₁ by power iteration (vector test); σ₂ by a second power iteration deflated against u₁,
// stopped on its Rayleigh quotient (σ₂² converges at the rate (σ₃/σ₂)⁴ per product).
PrincipalDirection power_direction(const MatrixF& g, const SpectralOptions& options) {
  PrincipalDirection pd;
  const Eigen::Index n = g.cols();
  VectorD u = VectorD::Ones(n); // deterministic start; reseeded below if it is orthogonal to u₁
  for (Eigen::Index j = 0; j < n; ++j)
    u(j) += 0.5 * std::sin(static_cast<double>(j) * 1.618); // break exact symmetry
  int products = 0;
  const double l1 =
      power_iterate(g, u, nullptr, true, options.tolerance, options.max_iterations, products);
  if (l1 < 0) {
    pd.iterations = products;
    pd.status = DirectionStatus::NotConverged;
    return pd;
  }
  pd.sigma1 = sqrt_clamped(l1);
  if (n >= 2 && g.rows() >= 2) {
    VectorD w(n);
    for (Eigen::Index j = 0; j < n; ++j)
      w(j) = std::cos(static_cast<double>(j) * 2.718 + 0.3);
    const double l2 =
        power_iterate(g, w, &u, false, options.tolerance, options.max_iterations, products);
    if (l2 < 0) {
      pd.iterations = products;
      pd.status = DirectionStatus::NotConverged;
      return pd;
    }
    pd.sigma2 = sqrt_clamped(l2);
  }
  pd.iterations = products;
  finish(pd, std::move(u), options);
  return pd;
}

} // namespace

PrincipalDirection principal_direction(const MatrixF& g, const SpectralOptions& options) {
  if (g.cols() == 0)
    throw_input_error("principal_direction: matrix has no columns (D = 0)");
  if (!(options.tolerance > 0) || options.max_iterations < 1)
    throw_input_error("principal_direction: tolerance must be > 0 and max_iterations >= 1, got " +
                      std::to_string(options.tolerance) + " and " +
                      std::to_string(options.max_iterations));
  PrincipalDirection pd;
  if (!g.allFinite()) {
    pd.status = DirectionStatus::NonFinite;
    return pd;
  }
  if (g.rows() == 0 || (g.array() == 0.0f).all()) {
    pd.status = DirectionStatus::Zero;
    return pd;
  }
  switch (options.method) {
  case SpectralMethod::Exact:
    return exact_direction(g, options);
  case SpectralMethod::Lanczos:
    return lanczos_direction(g, options);
  case SpectralMethod::Power:
    return power_direction(g, options);
  }
  return pd;
}

} // namespace routerscope
