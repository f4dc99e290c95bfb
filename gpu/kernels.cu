#include "gpu/cuda_check.h"
#include "gpu/kernels.h"

namespace routerscope::gpu {

namespace {

constexpr int kThreads = 256;

// ---------------------------------------------------------------- kernels

// Sum over a block of one double per thread; every thread gets the total.
__device__ double block_sum(double v) {
  __shared__ double partial[kThreads];
  __syncthreads(); // the previous call's readers are done with `partial`
  partial[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s)
      partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  return partial[0];
}

// Orthonormalises the b columns of every expert's block z [D, b] (column-major, stride D·b) by
// modified Gram–Schmidt, twice ("twice is enough"); one thread block per expert. A column that
// vanishes (rank-deficient block) is left at zero.
__global__ void orthonormalize_kernel(float* z, int d, int b) {
  float* block = z + (long long)blockIdx.x * d * b;
  for (int j = 0; j < b; ++j) {
    float* zj = block + (long long)j * d;
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i < j; ++i) {
        const float* vi = block + (long long)i * d;
        double dot = 0;
        for (int t = threadIdx.x; t < d; t += blockDim.x)
          dot += double(vi[t]) * zj[t];
        dot = block_sum(dot);
        for (int t = threadIdx.x; t < d; t += blockDim.x)
          zj[t] -= float(dot) * vi[t];
        __syncthreads();
      }
    double norm2 = 0;
    for (int t = threadIdx.x; t < d; t += blockDim.x)
      norm2 += double(zj[t]) * zj[t];
    norm2 = block_sum(norm2);
    const float inv = norm2 > 0 ? float(1.0 / sqrt(norm2)) : 0.0f;
    for (int t = threadIdx.x; t < d; t += blockDim.x)
      zj[t] *= inv;
    __syncthreads();
  }
}

// Ritz residuals of the first two Ritz pairs: ‖z_j − θ_j v_j‖ for j = 0, 1, where z = GᵀG v.
__global__ void residual_kernel(const float* z, const float* v, const double* theta, int d, int b,
                                double* residual) {
  const long long base = (long long)blockIdx.x * d * b;
  for (int j = 0; j < 2 && j < b; ++j) {
    const double th = theta[blockIdx.x * b + j];
    double s = 0;
    for (int t = threadIdx.x; t < d; t += blockDim.x) {
      const double r = double(z[base + (long long)j * d + t]) - th * v[base + (long long)j * d + t];
      s += r * r;
    }
    s = block_sum(s);
    if (threadIdx.x == 0)
      residual[blockIdx.x * 2 + j] = sqrt(s);
  }
}

// Per expert vector v [D] (stride D): norm; optional rescale to unit length with the log of the
// norm accumulated; final retraction out = c·v/‖v‖ (or out = v for no-retract).
__global__ void rescale_kernel(float* v, int d, double* log_scale) {
  float* x = v + (long long)blockIdx.x * d;
  double s = 0;
  for (int t = threadIdx.x; t < d; t += blockDim.x)
    s += double(x[t]) * x[t];
  const double n = sqrt(block_sum(s));
  if (!(n > 0))
    return; // left for the retraction to report
  for (int t = threadIdx.x; t < d; t += blockDim.x)
    x[t] = float(x[t] / n);
  if (threadIdx.x == 0)
    log_scale[blockIdx.x] += log(n);
}

__global__ void retract_kernel(const float* v, int d, const double* log_scale, double c,
                               bool retract, float* out, double* pre_norm) {
  const float* x = v + (long long)blockIdx.x * d;
  float* y = out + (long long)blockIdx.x * d;
  double s = 0;
  for (int t = threadIdx.x; t < d; t += blockDim.x)
    s += double(x[t]) * x[t];
  const double n = sqrt(block_sum(s));
  if (threadIdx.x == 0)
    pre_norm[blockIdx.x] = n * exp(log_scale[blockIdx.x]);
  const double f = retract ? c / n : 1.0;
  for (int t = threadIdx.x; t < d; t += blockDim.x)
    y[t] = float(x[t] * f);
}

} // namespace

void launch_orthonormalize(float* z, int d, int b, int batch) {
  orthonormalize_kernel<<<batch, kThreads>>>(z, d, b);
  RS_LAUNCHED("orthonormalize_kernel");
}

void launch_residual(const float* z, const float* v, const double* theta, int d, int b,
                     double* residual, int batch) {
  residual_kernel<<<batch, kThreads>>>(z, v, theta, d, b, residual);
  RS_LAUNCHED("residual_kernel");
}

void launch_rescale(float* v, int d, double* log_scale, int batch) {
  rescale_kernel<<<batch, kThreads>>>(v, d, log_scale);
  RS_LAUNCHED("rescale_kernel");
}

void launch_retract(const float* v, int d, const double* log_scale, double c, bool retract,
                    float* out, double* pre_norm, int batch) {
  retract_kernel<<<batch, kThreads>>>(v, d, log_scale, c, retract, out, pre_norm);
  RS_LAUNCHED("retract_kernel");
}

} // namespace routerscope::gpu
