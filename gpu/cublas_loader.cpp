#include "gpu/cublas_loader.h"

#include "core/error.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace routerscope::gpu {

namespace {

#define RS_STRINGIFY2(x) #x
#define RS_STRINGIFY(x) RS_STRINGIFY2(x)

template <class F> void resolve(void* lib, const char* name, const std::string& file, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  if (!out)
    throw_internal_error("cuBLAS: " + file + " has no entry point " + name);
}

CublasApi load() {
  const std::string soname = "libcublas.so." RS_STRINGIFY(CUBLAS_VER_MAJOR);
  std::string tried;
  void* lib = nullptr;
  for (const std::string& file :
       {std::string(ROUTERSCOPE_CUDA_LIBRARY_DIR) + "/" + soname, soname}) {
    lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib)
      break;
    const char* why = dlerror();
    tried += (tried.empty() ? "" : "; ") + std::string(why ? why : file + ": not loadable");
  }
  if (!lib)
    throw_internal_error("cuBLAS: cannot load " + soname + " (" + tried + ")");
  CublasApi api;
  resolve(lib, RS_STRINGIFY(cublasCreate), soname, api.create);
  resolve(lib, RS_STRINGIFY(cublasDestroy), soname, api.destroy);
  resolve(lib, "cublasSetMathMode", soname, api.set_math_mode);
  resolve(lib, RS_STRINGIFY(cublasSgemm), soname, api.sgemm);
  resolve(lib, "cublasSgemmStridedBatched", soname, api.sgemm_strided_batched);
  resolve(lib, "cublasGetStatusName", soname, api.status_name);
  resolve(lib, "cublasGetStatusString", soname, api.status_string);
  return api; // the library stays loaded for the process's life
}

} // namespace

const CublasApi& cublas() {
  static std::once_flag once;
  static CublasApi api;
  static std::string failure;
  std::call_once(once, [] {
    try {
      api = load();
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  if (!failure.empty())
    throw_internal_error(failure);
  return api;
}

} // namespace routerscope::gpu
