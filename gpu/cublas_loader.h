#pragma once
// cuBLAS, loaded with dlopen when the CUDA backend is first made instead of linked. libcublas and
// libcublasLt run about half a second of static initialisers at process start, which every
// `routerscope` command would pay — `--help` included — though most never touch the GPU. Only the
// entry points the backend calls are resolved (gpu/ internal).
#include <cublas_v2.h>

namespace routerscope::gpu {

struct CublasApi {
  decltype(&::cublasCreate_v2) create = nullptr;
  decltype(&::cublasDestroy_v2) destroy = nullptr;
  decltype(&::cublasSetMathMode) set_math_mode = nullptr;
  decltype(&::cublasSgemm_v2) sgemm = nullptr;
  decltype(&::cublasSgemmStridedBatched) sgemm_strided_batched = nullptr;
  decltype(&::cublasGetStatusName) status_name = nullptr;
  decltype(&::cublasGetStatusString) status_string = nullptr;
};

// Loads libcublas.so.<the headers' major version> once — from the CUDA toolkit's library folder
// the build saw, else wherever the dynamic loader finds it — and resolves the entry points.
// Throws Internal naming the library and the loader's reason when it cannot.
const CublasApi& cublas();

} // namespace routerscope::gpu
