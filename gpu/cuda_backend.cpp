#include "gpu/cuda_backend.h"
#include "gpu/cublas_loader.h"
#include "gpu/cuda_check.h"
#include "gpu/kernels.h"

#include "core/error.h"

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace routerscope::gpu {

namespace {

// ---------------------------------------------------------------- the backend

std::string device_name(int device) {
  cudaDeviceProp p{};
  RS_CUDA(cudaGetDeviceProperties(&p, device));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.totalGlobalMem >> 30) + " GiB)";
}

class CudaLayer final : public LayerOperators {
public:
  CudaLayer(const std::vector<MatrixF>& g) : host_(g) {
    experts_ = int(g.size());
    if (experts_ == 0)
      return;
    rows_ = int(g.front().rows());
    d_ = int(g.front().cols());
    for (size_t e = 0; e < g.size(); ++e)
      if (g[e].rows() != rows_ || g[e].cols() != d_)
        throw_input_error("CUDA backend: expert " + std::to_string(e) + " matrix is [" +
                          std::to_string(g[e].rows()) + ", " + std::to_string(g[e].cols()) +
                          "], expected [" + std::to_string(rows_) + ", " + std::to_string(d_) +
                          "] like expert 0 (one layer's experts share a shape)");
    const size_t per = size_t(rows_) * size_t(d_);
    g_.resize(per * size_t(experts_));
    for (int e = 0; e < experts_; ++e)
      RS_CUDA(cudaMemcpy(g_.get() + per * size_t(e), g[size_t(e)].data(), per * sizeof(float),
                         cudaMemcpyHostToDevice));
  }
  int experts() const override { return experts_; }
  int d_model() const override { return d_; }
  int rows() const { return rows_; }
  const float* g() const { return g_.get(); }
  const std::vector<MatrixF>& host() const { return host_; }

private:
  const std::vector<MatrixF>& host_;
  int experts_ = 0, rows_ = 0, d_ = 0;
  DeviceBuffer<float> g_; // [E][rows, D] row-major = column-major [D, rows] with ld = D
};

const CudaLayer& cuda_layer(const LayerOperators& layer) {
  auto* l = dynamic_cast<const CudaLayer*>(&layer);
  if (!l)
    throw_internal_error("CUDA backend: the layer was uploaded by another backend");
  return *l;
}

// Fixes the sign so that the largest-magnitude entry is positive (principal_direction's rule).
void fix_sign(VectorF& u) {
  Eigen::Index at = 0;
  u.cwiseAbs().maxCoeff(&at);
  if (u(at) < 0)
    u = -u;
}

class CudaBackend final : public ComputeBackend {
public:
  CudaBackend() {
    RS_CUDA(cudaSetDevice(0));
    name_ = "cuda: " + device_name(0);
    RS_CUBLAS(cublas().create(&handle_));
    // Full FP32 products (no TF32): the CPU reference is float, and directions must agree to 1e-5.
    RS_CUBLAS(cublas().set_math_mode(handle_, CUBLAS_PEDANTIC_MATH));
  }
  ~CudaBackend() override {
    if (handle_)
      cublas().destroy(handle_);
  }

  std::string name() const override { return name_; }
  bool batches_layers() const override { return true; }

  std::unique_ptr<LayerOperators> upload(const std::vector<MatrixF>& g) const override {
    return std::make_unique<CudaLayer>(g);
  }

  std::vector<PrincipalDirection> principal_directions(const LayerOperators& ops,
                                                       const SpectralOptions& options,
                                                       const Progress& progress) const override;
  MatrixF mpi_step(const LayerOperators& ops, const MatrixF& r, const MpiSettings& settings,
                   VectorD* pre_norms) const override;
  Routing route(const MatrixF& x, const MatrixF& router, const VectorF& bias,
                const RoutingRule& rule, int top_k) const override;

private:
  // C[e] = op(A[e]) · op(B[e]) for every expert, column-major, float32.
  void batched_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* a,
                    int lda, long long stride_a, const float* b, int ldb, long long stride_b,
                    float* c, int ldc, long long stride_c, int batch) const {
    const float one = 1.0f, zero = 0.0f;
    RS_CUBLAS(cublas().sgemm_strided_batched(handle_, ta, tb, m, n, k, &one, a, lda, stride_a, b,
                                             ldb, stride_b, &zero, c, ldc, stride_c, batch));
  }

  std::string name_;
  cublasHandle_t handle_ = nullptr;
  // One cuBLAS handle: calls from several threads (GUI jobs) take turns.
  mutable std::recursive_mutex mutex_; // recursive: a mixed layer recurses per expert
};

std::vector<PrincipalDirection> CudaBackend::principal_directions(const LayerOperators& ops,
                                                                  const SpectralOptions& options,
                                                                  const Progress& progress) const {
  std::lock_guard lock(mutex_);
  RS_CUDA(cudaSetDevice(0));
  const CudaLayer& layer = cuda_layer(ops);
  const int n = layer.experts(), rows = layer.rows(), d = layer.d_model();
  if (n > 0 && d == 0)
    throw_input_error("principal direction: the matrices have no columns (D = 0)");
  std::vector<PrincipalDirection> out(static_cast<size_t>(n));
  // Statuses the iteration cannot decide, and matrices too small for a block of b vectors: the
  // CPU reference answers those (same contract by construction).
  const int b = 8;
  std::vector<int> batch; // experts iterated on the device
  for (int e = 0; e < n; ++e) {
    const MatrixF& g = layer.host()[size_t(e)];
    if (!g.allFinite() || g.isZero(0) || std::min(rows, d) <= 2 * b)
      out[size_t(e)] = principal_direction(g, options);
    else
      batch.push_back(e);
  }
  if (batch.empty())
    return out;
  const bool all = int(batch.size()) == n;
  if (!all) {
    // Rare (a layer with a zero or broken expert): iterate the regular ones one at a time.
    for (int e : batch) {
      std::vector<MatrixF> one{layer.host()[size_t(e)]};
      CudaLayer single(one);
      out[size_t(e)] = principal_directions(single, options, progress).front();
    }
    return out;
  }

  // Block subspace iteration on GᵀG with Rayleigh–Ritz, all experts together:
  //   W = G V, H = WᵀW (= VᵀGᵀGV), H = Y Θ Yᵀ, V ← V Y, W ← W Y, Z = GᵀW, residuals, V ← orth(Z).
  // Column-major blocks: V, Z [D, b], W [rows, b], H, Y [b, b], per expert.
  const long long sg = (long long)rows * d, sv = (long long)d * b, sw = (long long)rows * b,
                  sh = (long long)b * b;
  DeviceBuffer<float> v(size_t(sv) * n), v2(size_t(sv) * n), w(size_t(sw) * n), w2(size_t(sw) * n),
      z(size_t(sv) * n), h(size_t(sh) * n), y(size_t(sh) * n);
  DeviceBuffer<double> theta(size_t(b) * n), residual(size_t(2) * n);
  for (auto* buf : {&v2, &w, &w2, &z, &h, &y})
    buf->poison();
  {
    std::mt19937_64 rng(0x5eed);
    std::normal_distribution<float> normal;
    std::vector<float> init(size_t(sv) * n);
    for (auto& x : init)
      x = normal(rng);
    v.upload(init.data(), init.size());
    launch_orthonormalize(v.get(), d, b, n);
  }
  // Block products are float: the residual floor is a few ulps of ‖GᵀG‖ (as for the CPU's block
  // Lanczos), so the tolerance is floored there.
  const double eps = std::numeric_limits<float>::epsilon();
  const double tolerance = std::max(options.tolerance, 8.0 * eps * std::sqrt(double(rows)));
  const int budget = std::max(1, options.max_iterations / b);
  std::vector<float> h_host(size_t(sh) * n), y_host(size_t(sh) * n);
  std::vector<double> theta_host(size_t(b) * n), res_host(size_t(2) * n);
  std::vector<int> converged_at(size_t(n), 0);
  int it = 0;
  for (; it < budget; ++it) {
    progress.check();
    batched_gemm(CUBLAS_OP_T, CUBLAS_OP_N, rows, b, d, layer.g(), d, sg, v.get(), d, sv, w.get(),
                 rows, sw, n);
    batched_gemm(CUBLAS_OP_T, CUBLAS_OP_N, b, b, rows, w.get(), rows, sw, w.get(), rows, sw,
                 h.get(), b, sh, n);
    h.download(h_host.data(), h_host.size());
    for (int e = 0; e < n; ++e) {
      Eigen::MatrixXd he =
          Eigen::Map<const Eigen::MatrixXf>(h_host.data() + sh * e, b, b).cast<double>();
      he = 0.5 * (he + he.transpose()).eval();
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(he);
      // Descending order of the Ritz values.
      for (int j = 0; j < b; ++j) {
        theta_host[size_t(b * e + j)] = es.eigenvalues()(b - 1 - j);
        for (int i = 0; i < b; ++i)
          y_host[size_t(sh * e + (long long)j * b + i)] = float(es.eigenvectors()(i, b - 1 - j));
      }
    }
    y.upload(y_host.data(), y_host.size());
    theta.upload(theta_host.data(), theta_host.size());
    batched_gemm(CUBLAS_OP_N, CUBLAS_OP_N, d, b, b, v.get(), d, sv, y.get(), b, sh, v2.get(), d, sv,
                 n);
    batched_gemm(CUBLAS_OP_N, CUBLAS_OP_N, rows, b, b, w.get(), rows, sw, y.get(), b, sh, w2.get(),
                 rows, sw, n);
    batched_gemm(CUBLAS_OP_N, CUBLAS_OP_N, d, b, rows, layer.g(), d, sg, w2.get(), rows, sw,
                 z.get(), d, sv, n);
    launch_residual(z.get(), v2.get(), theta.get(), d, b, residual.get(), n);
    residual.download(res_host.data(), res_host.size());
    bool done = true;
    for (int e = 0; e < n; ++e) {
      const double t1 = theta_host[size_t(b * e)];
      const bool ok = res_host[size_t(2 * e)] <= tolerance * t1 &&
                      res_host[size_t(2 * e + 1)] <= tolerance * t1;
      if (ok && !converged_at[size_t(e)])
        converged_at[size_t(e)] = (it + 1) * b;
      done = done && converged_at[size_t(e)];
    }
    if (done)
      break;
    std::swap(v, z); // V ← orth(GᵀG V)
    launch_orthonormalize(v.get(), d, b, n);
  }
  // v2 holds the Ritz vectors of the last Rayleigh–Ritz step; column 0 of each block is u₁.
  std::vector<float> vecs(size_t(sv) * n);
  v2.download(vecs.data(), vecs.size());
  const double gap_min = degenerate_gap_threshold(options);
  for (int e = 0; e < n; ++e) {
    PrincipalDirection& pd = out[size_t(e)];
    pd.sigma1 = std::sqrt(std::max(0.0, theta_host[size_t(b * e)]));
    pd.sigma2 = std::sqrt(std::max(0.0, theta_host[size_t(b * e + 1)]));
    pd.iterations = converged_at[size_t(e)] ? converged_at[size_t(e)] : (it + 1) * b;
    if (!converged_at[size_t(e)]) {
      pd.status = DirectionStatus::NotConverged;
      continue;
    }
    if ((pd.sigma1 - pd.sigma2) < gap_min * pd.sigma1) {
      pd.status = DirectionStatus::Degenerate;
      continue;
    }
    pd.status = DirectionStatus::Ok;
    pd.u1 = Eigen::Map<const VectorF>(vecs.data() + sv * e, d);
    pd.u1.normalize();
    fix_sign(pd.u1);
  }
  return out;
}

MatrixF CudaBackend::mpi_step(const LayerOperators& ops, const MatrixF& r,
                              const MpiSettings& settings, VectorD* pre_norms) const {
  std::lock_guard lock(mutex_);
  RS_CUDA(cudaSetDevice(0));
  const CudaLayer& layer = cuda_layer(ops);
  const int n = layer.experts(), rows = layer.rows(), d = layer.d_model();
  if (r.rows() != n)
    throw_input_error("MPI: router has " + std::to_string(r.rows()) + " rows but " +
                      std::to_string(n) + " expert matrices were given");
  if (r.cols() != d)
    throw_input_error("MPI: expert matrices have " + std::to_string(d) +
                      " columns, expected D = " + std::to_string(r.cols()));
  const bool no_power = settings.ablation == MpiSettings::Ablation::NoPower;
  if (settings.power_steps < 1 && !no_power)
    throw_input_error("MPI: power steps must be >= 1, got " + std::to_string(settings.power_steps));
  if (!(settings.c_prime > 0))
    throw_input_error("MPI: C′ must be positive, got " + std::to_string(settings.c_prime));
  // Router rows are contiguous: column-major [D, N], column e = row e.
  DeviceBuffer<float> v, y(size_t(rows) * n), out(size_t(d) * n);
  DeviceBuffer<double> log_scale(static_cast<size_t>(n)), pre(static_cast<size_t>(n));
  v.upload(r.data(), size_t(r.size()));
  out.poison();
  RS_CUDA(cudaMemset(log_scale.get(), 0, sizeof(double) * size_t(n)));
  const bool rescale = settings.ablation == MpiSettings::Ablation::None;
  const int steps = no_power ? 0 : settings.power_steps;
  for (int step = 0; step < steps; ++step) {
    batched_gemm(CUBLAS_OP_T, CUBLAS_OP_N, rows, 1, d, layer.g(), d, (long long)rows * d, v.get(),
                 d, d, y.get(), rows, rows, n); // y = G v
    batched_gemm(CUBLAS_OP_N, CUBLAS_OP_N, d, 1, rows, layer.g(), d, (long long)rows * d, y.get(),
                 rows, rows, v.get(), d, d, n); // v = Gᵀ y
    if (rescale && step + 1 < steps) {
      launch_rescale(v.get(), d, log_scale.get(), n);
    }
  }
  const bool retract = settings.ablation != MpiSettings::Ablation::NoRetract;
  launch_retract(v.get(), d, log_scale.get(), settings.radius(n), retract, out.get(), pre.get(), n);
  VectorD norms(n);
  pre.download(norms.data(), size_t(n));
  if (retract)
    for (int e = 0; e < n; ++e)
      if (!(norms(e) > 0) || !std::isfinite(norms(e)))
        throw_input_error("MPI: expert " + std::to_string(e) + ": the vector to retract has norm " +
                          std::to_string(norms(e)) +
                          " (router row in the null space of GᵀG, or zero); R′ is undefined");
  MatrixF result(n, d);
  out.download(result.data(), size_t(result.size()));
  if (pre_norms)
    *pre_norms = norms;
  return result;
}

Routing CudaBackend::route(const MatrixF& x, const MatrixF& router, const VectorF& bias,
                           const RoutingRule& rule, int top_k) const {
  std::lock_guard lock(mutex_);
  RS_CUDA(cudaSetDevice(0));
  if (x.cols() != router.cols())
    throw_input_error("routing: tokens have width " + std::to_string(x.cols()) +
                      " but the router is [" + std::to_string(router.rows()) + ", " +
                      std::to_string(router.cols()) + "]");
  const int t = int(x.rows()), n = int(router.rows()), d = int(x.cols());
  // logits [T, N] row-major = column-major [N, T] = R · Xᵀ: (R row-major = col-major [D, N]).
  DeviceBuffer<float> xd, rd, logits(size_t(t) * n);
  xd.upload(x.data(), size_t(x.size()));
  rd.upload(router.data(), size_t(router.size()));
  logits.poison();
  if (t > 0 && n > 0) {
    const float one = 1.0f, zero = 0.0f;
    RS_CUBLAS(cublas().sgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, n, t, d, &one, rd.get(), d,
                             xd.get(), d, &zero, logits.get(), n));
  }
  MatrixF host(t, n);
  logits.download(host.data(), size_t(host.size()));
  // The selection rule after the product is core's one definition.
  return route_logits(std::move(host), bias, rule, top_k);
}

} // namespace

std::unique_ptr<ComputeBackend> make_cuda_backend(std::string* why_not) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why_not) {
      const std::string code = cudaGetErrorName(status);
      if (status == cudaErrorInsufficientDriver)
        *why_not = "no NVIDIA driver was found, or it is older than this CUDA runtime needs (" +
                   code + ")";
      else if (status == cudaErrorNoDevice)
        *why_not = "the NVIDIA driver sees no CUDA device (" + code + ")";
      else
        *why_not = code + ": " + cudaGetErrorString(status);
    }
    cudaGetLastError(); // clear the sticky error state of the failed query
    return nullptr;
  }
  if (count == 0) {
    if (why_not)
      *why_not = "the CUDA driver reports no device";
    return nullptr;
  }
  try {
    return std::make_unique<CudaBackend>();
  } catch (const Error& e) {
    if (why_not)
      *why_not = e.what();
    return nullptr;
  }
}

void register_cuda_backend() {
  set_gpu_backend_factory([](std::string* why_not) { return make_cuda_backend(why_not); });
}

} // namespace routerscope::gpu
