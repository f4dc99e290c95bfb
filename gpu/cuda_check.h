#pragma once
// Checked CUDA and cuBLAS calls and an owning device buffer (gpu/ internal).
#include "core/error.h"

#include "gpu/cublas_loader.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace routerscope::gpu {

inline void check_cuda(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw_internal_error(std::string("CUDA: ") + call + " failed: " + cudaGetErrorName(status) +
                         " (" + cudaGetErrorString(status) + ")");
}
inline void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_internal_error(std::string("cuBLAS: ") + call +
                         " failed: " + cublas().status_name(status) + " (" +
                         cublas().status_string(status) + ")");
}

#define RS_CUDA(call) ::routerscope::gpu::check_cuda((call), #call)
#define RS_CUBLAS(call) ::routerscope::gpu::check_cublas((call), #call)
// After a kernel launch: launch errors now, execution errors at the next synchronising call.
#define RS_LAUNCHED(what) ::routerscope::gpu::check_cuda(cudaGetLastError(), what)

template <class T> class DeviceBuffer {
public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), count_(o.count_) {
    o.ptr_ = nullptr;
    o.count_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = o.ptr_;
      count_ = o.count_;
      o.ptr_ = nullptr;
      o.count_ = 0;
    }
    return *this;
  }
  void resize(std::size_t count) {
    if (count == count_)
      return;
    release();
    if (count > 0)
      RS_CUDA(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T)));
    count_ = count;
  }
  // Fills every byte with 0xFF (a NaN pattern for floats): outputs are poisoned before each run.
  void poison() {
    if (count_)
      RS_CUDA(cudaMemset(ptr_, 0xFF, count_ * sizeof(T)));
  }
  void upload(const T* host, std::size_t count) {
    resize(count);
    if (count)
      RS_CUDA(cudaMemcpy(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* host, std::size_t count) const {
    if (count > count_)
      throw_internal_error("DeviceBuffer::download: " + std::to_string(count) + " > " +
                           std::to_string(count_) + " elements");
    if (count)
      RS_CUDA(cudaMemcpy(host, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost));
  }
  T* get() { return ptr_; }
  const T* get() const { return ptr_; }
  std::size_t size() const { return count_; }

private:
  void release() {
    if (ptr_)
      cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

} // namespace routerscope::gpu
