#include "core/spectral.h"

#include "core/enum_names.h"
#include "core/error.h"

#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ROUTERSCOPE_X86_DISPATCH 1
#endif

namespace routerscope {

namespace {
constexpr NameTable<SpectralMethod, 3> kMethodNames{{
    {SpectralMethod::Exact, "exact"},
    {SpectralMethod::Lanczos, "lanczos"},
    {SpectralMethod::Power, "power"},
}};
constexpr NameTable<DirectionStatus, 5> kStatusNames{{
    {DirectionStatus::Ok, "ok"},
    {DirectionStatus::Degenerate, "degenerate"},
    {DirectionStatus::Zero, "zero"},
    {DirectionStatus::NonFinite, "non_finite"},
    {DirectionStatus::NotConverged, "not_converged"},
}};
} // namespace

std::string_view to_string(SpectralMethod m) {
  return name_of(kMethodNames, m);
}

SpectralMethod parse_spectral_method(std::string_view text) {
  return parse_name(kMethodNames, text, "spectral method");
}

std::string_view to_string(DirectionStatus s) {
  return name_of(kStatusNames, s);
}

double degenerate_gap_threshold(const SpectralOptions& options) {
  if (options.method == SpectralMethod::Exact)
    return kDegenerateFloor;
  return std::max(kDegenerateFloor, 10.0 * options.tolerance);
}

namespace {

// ---- y = Gᵀ(G x) in one pass over G: per row, t = g_i·x, then y += t·g_i while g_i is in L1.
// G is row-major [rows, n] of float or of BF16 bit patterns (a float's upper 16 bits: half the
// bytes per pass). ----

inline float value_of(float v) {
  return v;
}
inline float value_of(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

template <class T> void gram_rows_generic(const T* g, int rows, int n, const float* x, float* y) {
  std::fill(y, y + n, 0.0f);
  for (int i = 0; i < rows; ++i) {
    const T* r = g + static_cast<std::ptrdiff_t>(i) * n;
    float t = 0;
    for (int j = 0; j < n; ++j)
      t += value_of(r[j]) * x[j];
    for (int j = 0; j < n; ++j)
      y[j] += value_of(r[j]) * t;
  }
}

#ifdef ROUTERSCOPE_X86_DISPATCH
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) inline __m256 load8(const float* p) {
  return _mm256_loadu_ps(p);
}
__attribute__((target("avx2,fma"))) inline __m256 load8(const std::uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// Four rows at a time: x is loaded once for four dot products and y once for four updates.
template <class T>
__attribute__((target("avx2,fma"))) void gram_rows_avx2(const T* g, int rows, int n, const float* x,
                                                        float* y) {
  const int n8 = n & ~7;
  std::fill(y, y + n, 0.0f);
  int i = 0;
  for (; i + 4 <= rows; i += 4) {
    const T* r0 = g + static_cast<std::ptrdiff_t>(i) * n;
    const T *r1 = r0 + n, *r2 = r1 + n, *r3 = r2 + n;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    for (int j = 0; j < n8; j += 8) {
      const __m256 xv = _mm256_loadu_ps(x + j);
      a0 = _mm256_fmadd_ps(load8(r0 + j), xv, a0);
      a1 = _mm256_fmadd_ps(load8(r1 + j), xv, a1);
      a2 = _mm256_fmadd_ps(load8(r2 + j), xv, a2);
      a3 = _mm256_fmadd_ps(load8(r3 + j), xv, a3);
    }
    float t0 = hsum(a0), t1 = hsum(a1), t2 = hsum(a2), t3 = hsum(a3);
    for (int j = n8; j < n; ++j) {
      t0 += value_of(r0[j]) * x[j];
      t1 += value_of(r1[j]) * x[j];
      t2 += value_of(r2[j]) * x[j];
      t3 += value_of(r3[j]) * x[j];
    }
    const __m256 b0 = _mm256_set1_ps(t0), b1 = _mm256_set1_ps(t1), b2 = _mm256_set1_ps(t2),
                 b3 = _mm256_set1_ps(t3);
    for (int j = 0; j < n8; j += 8) {
      __m256 yv = _mm256_loadu_ps(y + j);
      yv = _mm256_fmadd_ps(load8(r0 + j), b0, yv);
      yv = _mm256_fmadd_ps(load8(r1 + j), b1, yv);
      yv = _mm256_fmadd_ps(load8(r2 + j), b2, yv);
      yv = _mm256_fmadd_ps(load8(r3 + j), b3, yv);
      _mm256_storeu_ps(y + j, yv);
    }
    for (int j = n8; j < n; ++j)
      y[j] +=
          value_of(r0[j]) * t0 + value_of(r1[j]) * t1 + value_of(r2[j]) * t2 + value_of(r3[j]) * t3;
  }
  if (i < rows) { // the last rows % 4 rows
    std::vector<float> tail(static_cast<std::size_t>(n));
    gram_rows_generic(g + static_cast<std::ptrdiff_t>(i) * n, rows - i, n, x, tail.data());
    for (int j = 0; j < n; ++j)
      y[j] += tail[static_cast<std::size_t>(j)];
  }
}

bool have_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
#endif

template <class T> void gram_rows(const T* g, int rows, int n, const float* x, float* y) {
#ifdef ROUTERSCOPE_X86_DISPATCH
  if (have_avx2_fma()) {
    gram_rows_avx2(g, rows, n, x, y);
    return;
  }
#endif
  gram_rows_generic(g, rows, n, x, y);
}

void gram_apply(const MatrixF& g, const float* x, float* y) {
  gram_rows(g.data(), static_cast<int>(g.rows()), static_cast<int>(g.cols()), x, y);
}

struct Bf16Ref {
  const std::uint16_t* bits;
  int rows, cols;
};

void gram_apply_bf16(const void* m, const float* x, float* y) {
  const Bf16Ref& g = *static_cast<const Bf16Ref*>(m);
  gram_rows(g.bits, g.rows, g.cols, x, y);
}

// ---- Y = Gᵀ(G X) for a block of kBlock vectors, X and Y row-major [D, kBlock]: row j of X is one
// 8-float register, so each element of G costs one broadcast and one FMA per phase. ----
constexpr int kBlock = 8;
using BlockF = Eigen::Matrix<float, Eigen::Dynamic, kBlock, Eigen::RowMajor>;

void gram_apply_block_generic(const MatrixF& g, const BlockF& x, BlockF& y) {
  y.setZero(g.cols(), kBlock);
  Eigen::Matrix<float, 1, kBlock> t;
  for (Eigen::Index i = 0; i < g.rows(); ++i) {
    t.noalias() = g.row(i) * x;
    y.noalias() += g.row(i).transpose() * t;
  }
}

#ifdef ROUTERSCOPE_X86_DISPATCH
// Four rows at a time, so each load of a row of X or Y serves four rows of G.
__attribute__((target("avx2,fma"))) void gram_apply_block_avx2(const MatrixF& g, const BlockF& x,
                                                               BlockF& y) {
  const int n = static_cast<int>(g.cols());
  const int rows = static_cast<int>(g.rows());
  y.setZero(n, kBlock);
  const float* xp = x.data();
  float* yp = y.data();
  int i = 0;
  for (; i + 4 <= rows; i += 4) {
    const float* r0 = g.data() + static_cast<std::ptrdiff_t>(i) * n;
    const float* r1 = r0 + n;
    const float* r2 = r1 + n;
    const float* r3 = r2 + n;
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps(), t2 = _mm256_setzero_ps(),
           t3 = _mm256_setzero_ps();
    for (int j = 0; j < n; ++j) {
      const __m256 xv = _mm256_loadu_ps(xp + kBlock * j);
      t0 = _mm256_fmadd_ps(_mm256_broadcast_ss(r0 + j), xv, t0);
      t1 = _mm256_fmadd_ps(_mm256_broadcast_ss(r1 + j), xv, t1);
      t2 = _mm256_fmadd_ps(_mm256_broadcast_ss(r2 + j), xv, t2);
      t3 = _mm256_fmadd_ps(_mm256_broadcast_ss(r3 + j), xv, t3);
    }
    for (int j = 0; j < n; ++j) {
      __m256 yv = _mm256_loadu_ps(yp + kBlock * j);
      yv = _mm256_fmadd_ps(_mm256_broadcast_ss(r0 + j), t0, yv);
      yv = _mm256_fmadd_ps(_mm256_broadcast_ss(r1 + j), t1, yv);
      yv = _mm256_fmadd_ps(_mm256_broadcast_ss(r2 + j), t2, yv);
      yv = _mm256_fmadd_ps(_mm256_broadcast_ss(r3 + j), t3, yv);
      _mm256_storeu_ps(yp + kBlock * j, yv);
    }
  }
  for (; i < rows; ++i) {
    const float* r = g.data() + static_cast<std::ptrdiff_t>(i) * n;
    __m256 t = _mm256_setzero_ps();
    for (int j = 0; j < n; ++j)
      t = _mm256_fmadd_ps(_mm256_broadcast_ss(r + j), _mm256_loadu_ps(xp + kBlock * j), t);
    for (int j = 0; j < n; ++j)
      _mm256_storeu_ps(yp + kBlock * j, _mm256_fmadd_ps(_mm256_broadcast_ss(r + j), t,
                                                        _mm256_loadu_ps(yp + kBlock * j)));
  }
}
#endif

void gram_apply_block(const MatrixF& g, const BlockF& x, BlockF& y) {
#ifdef ROUTERSCOPE_X86_DISPATCH
  if (have_avx2_fma()) {
    gram_apply_block_avx2(g, x, y);
    return;
  }
#endif
  gram_apply_block_generic(g, x, y);
}

// GᵀG as a Spectra operator: double vectors (orthogonalisation in double), float products.
// `apply(x, y)` computes y = GᵀG x in float; D is the length of x and y.
using GramApply = void (*)(const void* g, const float* x, float* y);
class GramOperator {
public:
  using Scalar = double;
  GramOperator(const void* g, Eigen::Index d, GramApply apply)
      : g_(g), apply_(apply), x_(d), y_(d) {}
  Eigen::Index rows() const { return x_.size(); }
  Eigen::Index cols() const { return x_.size(); }
  void perform_op(const double* x_in, double* y_out) const {
    const Eigen::Index n = x_.size();
    x_ = Eigen::Map<const VectorD>(x_in, n).cast<float>();
    apply_(g_, x_.data(), y_.data());
    Eigen::Map<VectorD>(y_out, n) = y_.cast<double>();
    ++products_;
  }
  int products() const { return products_; }

private:
  const void* g_;
  GramApply apply_;
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

Eigen::MatrixXd smaller_gram(const Eigen::MatrixXd& gd) {
  return gd.rows() < gd.cols() ? Eigen::MatrixXd(gd * gd.transpose())
                               : Eigen::MatrixXd(gd.transpose() * gd);
}

// Exact: symmetric eigensolver in double on the smaller Gram matrix (GGᵀ when rows < D).
PrincipalDirection exact_direction(const MatrixF& g, const SpectralOptions& options) {
  PrincipalDirection pd;
  const Eigen::MatrixXd gd = g.cast<double>();
  const bool row_side = g.rows() < g.cols();
  Eigen::MatrixXd gram = smaller_gram(gd);
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

PrincipalDirection block_lanczos_direction(const MatrixF& g, const SpectralOptions& options);

// Single-vector Lanczos (Spectra, nev = 2) on the operator GᵀG given by `apply`.
PrincipalDirection spectra_lanczos(const void* g, Eigen::Index n, GramApply apply,
                                   const SpectralOptions& options) {
  PrincipalDirection pd;
  const Eigen::Index nev = 2;
  Eigen::Index ncv = options.krylov_dim > 0 ? options.krylov_dim : 12;
  ncv = std::clamp<Eigen::Index>(ncv, nev + 1, n);
  GramOperator op(g, n, apply);
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

PrincipalDirection lanczos_direction(const MatrixF& g, const SpectralOptions& options) {
  const Eigen::Index n = g.cols();
  if (n <= 2 || g.rows() < 2) // Spectra needs nev < ncv <= n; tiny cases are cheap exactly.
    return exact_direction(g, options);
  if (options.block_size == kBlock)
    return n >= 4 * kBlock ? block_lanczos_direction(g, options) : exact_direction(g, options);
  return spectra_lanczos(
      &g, n,
      [](const void* m, const float* x, float* y) {
        gram_apply(*static_cast<const MatrixF*>(m), x, y);
      },
      options);
}

// Block Lanczos: Rayleigh–Ritz on the block Krylov space span{X, AX, A²X, ...} of A = GᵀG, X a
// seeded random [D, 8] block. Basis and projections in double (full re-orthogonalisation), products
// in float (one pass over G per block of 8). Stops when both Ritz pairs have residual
// ‖A y − θ y‖ ≤ max(tolerance, 8·ε_float·√rows)·θ₁ (the residuals are exact: A times every basis
// vector is kept); when the basis reaches its cap it restarts from the current best 8 Ritz vectors.
PrincipalDirection block_lanczos_direction(const MatrixF& g, const SpectralOptions& options) {
  PrincipalDirection pd;
  const Eigen::Index n = g.cols();
  const Eigen::Index cap =
      std::clamp<Eigen::Index>(options.krylov_dim > 0 ? options.krylov_dim : 96, 2 * kBlock,
                               std::max<Eigen::Index>(2 * kBlock, n - n % kBlock));
  Eigen::MatrixXd v(n, cap), av(n, cap), h = Eigen::MatrixXd::Zero(cap, cap);
  Eigen::MatrixXd q(n, kBlock);
  std::mt19937_64 rng(0x5eed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto random_block = [&] {
    for (Eigen::Index i = 0; i < q.size(); ++i)
      q.data()[i] = normal(rng);
  };
  random_block();
  // The products are float: a residual much below ε_float·√rows·θ₁ is rounding, not progress.
  const double tol =
      std::max(options.tolerance, 8.0 * 1.1920928955078125e-07 * std::sqrt(double(g.rows())));
  BlockF xf(n, kBlock), yf(n, kBlock);
  Eigen::Index m = 0; // basis columns in use
  for (int products = 0; products + kBlock <= options.max_iterations;) {
    // Orthonormalise q against the basis (twice, for stability) and within itself.
    for (int pass = 0; pass < 2 && m > 0; ++pass)
      q -= v.leftCols(m) * (v.leftCols(m).transpose() * q);
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(q);
    const double scale = qr.matrixQR().diagonal().cwiseAbs().maxCoeff();
    if (!(qr.matrixQR().diagonal().cwiseAbs().minCoeff() > 1e-10 * std::max(scale, 1e-300))) {
      random_block(); // Krylov space exhausted or rank-deficient block: refresh it
      if (m > 0)
        q -= v.leftCols(m) * (v.leftCols(m).transpose() * q);
      qr.compute(q);
    }
    q = qr.householderQ() * Eigen::MatrixXd::Identity(n, kBlock);
    // One pass over G for eight products.
    xf = q.cast<float>();
    gram_apply_block(g, xf, yf);
    products += kBlock;
    v.middleCols(m, kBlock) = q;
    av.middleCols(m, kBlock) = yf.cast<double>();
    h.block(0, m, m + kBlock, kBlock) =
        v.leftCols(m + kBlock).transpose() * av.middleCols(m, kBlock);
    h.block(m, 0, kBlock, m) = h.block(0, m, m, kBlock).transpose();
    m += kBlock;
    Eigen::MatrixXd hm = h.topLeftCorner(m, m);
    hm = 0.5 * (hm + hm.transpose()).eval();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(hm);
    const VectorD theta = es.eigenvalues().reverse();
    const Eigen::MatrixXd s = es.eigenvectors().rowwise().reverse();
    const Eigen::MatrixXd y = v.leftCols(m) * s.leftCols(2);
    const Eigen::MatrixXd ay = av.leftCols(m) * s.leftCols(2);
    const double r1 = (ay.col(0) - theta(0) * y.col(0)).norm();
    const double r2 = (ay.col(1) - theta(1) * y.col(1)).norm();
    pd.iterations = products;
    if (r1 <= tol * theta(0) && r2 <= tol * theta(0)) {
      pd.sigma1 = sqrt_clamped(theta(0));
      pd.sigma2 = sqrt_clamped(theta(1));
      finish(pd, y.col(0), options);
      return pd;
    }
    if (m + kBlock > cap) { // restart from the best Ritz vectors
      const Eigen::MatrixXd keep = s.leftCols(kBlock);
      const Eigen::MatrixXd vk = v.leftCols(m) * keep, avk = av.leftCols(m) * keep;
      v.leftCols(kBlock) = vk;
      av.leftCols(kBlock) = avk;
      h.setZero();
      h.topLeftCorner(kBlock, kBlock) = theta.head(kBlock).asDiagonal();
      m = kBlock;
      q = avk - vk * theta.head(kBlock).asDiagonal(); // residual block continues the Krylov space
    } else {
      q = av.middleCols(m - kBlock, kBlock);
    }
  }
  pd.status = DirectionStatus::NotConverged;
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

void check_options(const SpectralOptions& options) {
  if (!(options.tolerance > 0) || options.max_iterations < 1 || options.krylov_dim < 0 ||
      (options.block_size != 0 && options.block_size != 1 && options.block_size != kBlock))
    throw_input_error(
        "principal_direction: expected tolerance > 0, max_iterations >= 1, "
        "krylov_dim >= 0 and block_size 0, 1 or 8; got " +
        std::to_string(options.tolerance) + ", " + std::to_string(options.max_iterations) + ", " +
        std::to_string(options.krylov_dim) + ", " + std::to_string(options.block_size));
}

struct MatrixScan {
  bool non_finite = false, non_zero = false;
  float max_abs = 0; // largest magnitude (meaningful when finite)
};

// One pass on the bit patterns (integer reductions vectorise without reassociating floats):
// exponent all ones = Inf or NaN; the largest pattern without its sign = the largest magnitude.
MatrixScan scan_matrix(const MatrixF& g) {
  const auto* bits = reinterpret_cast<const std::uint32_t*>(g.data());
  const std::size_t count = static_cast<std::size_t>(g.size());
  std::uint32_t special = 0, magnitude = 0;
  for (std::size_t i = 0; i < count; ++i) {
    special |= static_cast<std::uint32_t>((bits[i] & 0x7f800000u) == 0x7f800000u);
    magnitude = std::max(magnitude, bits[i] & 0x7fffffffu);
  }
  return {special != 0, magnitude != 0, std::bit_cast<float>(magnitude)};
}

// The power of two by which G is divided before solving, 0 when none is needed. The float
// products with GᵀG square the entries: beyond 2^kScaleLimit (or below its inverse) they overflow
// (a single BF16 weight of 1e20 gives inf) or lose precision to subnormals. Dividing by a power
// of two is exact, leaves u₁ unchanged and scales σ₁, σ₂ by the same power.
constexpr int kScaleLimit = 40;
int scale_exponent(float max_abs) {
  int e = 0;
  std::frexp(max_abs, &e);
  return e > kScaleLimit || e < -kScaleLimit ? e : 0;
}

} // namespace

PrincipalDirection principal_direction(const Bf16Matrix& g, const SpectralOptions& options) {
  if (g.rows < 0 || g.cols < 0 || (g.bits == nullptr && g.rows > 0 && g.cols > 0))
    throw_input_error("principal_direction: BF16 matrix [" + std::to_string(g.rows) + ", " +
                      std::to_string(g.cols) + "] has no data");
  const bool direct = options.method == SpectralMethod::Lanczos && options.block_size != kBlock &&
                      g.cols > 2 && g.rows >= 2;
  if (!direct) { // the other methods and tiny cases work on the decoded float matrix
    MatrixF f(g.rows, g.cols);
    for (Eigen::Index i = 0; i < f.size(); ++i)
      f.data()[i] = value_of(g.bits[i]);
    return principal_direction(f, options);
  }
  check_options(options);
  std::uint16_t special = 0, magnitude = 0;
  const std::size_t count = static_cast<std::size_t>(g.rows) * static_cast<std::size_t>(g.cols);
  for (std::size_t i = 0; i < count; ++i) {
    special |= static_cast<std::uint16_t>((g.bits[i] & 0x7f80u) == 0x7f80u);
    magnitude = std::max<std::uint16_t>(magnitude, g.bits[i] & 0x7fffu);
  }
  PrincipalDirection pd;
  if (special != 0)
    pd.status = DirectionStatus::NonFinite;
  else if (magnitude == 0)
    pd.status = DirectionStatus::Zero;
  else if (scale_exponent(value_of(magnitude)) != 0) { // scaled on the float path
    MatrixF f(g.rows, g.cols);
    for (Eigen::Index i = 0; i < f.size(); ++i)
      f.data()[i] = value_of(g.bits[i]);
    pd = principal_direction(f, options);
  } else {
    const Bf16Ref ref{g.bits, g.rows, g.cols};
    pd = spectra_lanczos(&ref, g.cols, gram_apply_bf16, options);
  }
  return pd;
}

PrincipalDirection principal_direction(const MatrixF& g, const SpectralOptions& options) {
  if (g.cols() == 0)
    throw_input_error("principal_direction: matrix has no columns (D = 0)");
  check_options(options);
  PrincipalDirection pd;
  const MatrixScan scan = scan_matrix(g);
  if (scan.non_finite) {
    pd.status = DirectionStatus::NonFinite;
    return pd;
  }
  if (g.rows() == 0 || !scan.non_zero) {
    pd.status = DirectionStatus::Zero;
    return pd;
  }
  if (const int e = scale_exponent(scan.max_abs); e != 0) {
    const MatrixF scaled = g * std::ldexp(1.0f, -e);
    pd = principal_direction(scaled, options);
    pd.sigma1 = std::ldexp(pd.sigma1, e);
    pd.sigma2 = std::ldexp(pd.sigma2, e);
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

std::vector<double> singular_values(const MatrixF& g, int count) {
  if (g.size() == 0 || !g.allFinite())
    return {};
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(smaller_gram(g.cast<double>()),
                                                    Eigen::EigenvaluesOnly);
  if (es.info() != Eigen::Success)
    throw_internal_error("singular_values: the symmetric eigensolver did not converge");
  const Eigen::Index m = es.eigenvalues().size();
  std::vector<double> out;
  for (Eigen::Index i = m - 1; i >= 0 && (count <= 0 || Eigen::Index(out.size()) < count); --i)
    out.push_back(sqrt_clamped(es.eigenvalues()(i)));
  return out;
}

} // namespace routerscope
