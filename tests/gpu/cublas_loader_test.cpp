// cuBLAS is loaded with dlopen on first use (gpu/cublas_loader.h). Loading and the status names
// need no device, so this runs on every machine that built the CUDA backend: a wrong library
// name, folder or entry point fails here, not first on a GPU machine.
#include "gpu/cublas_loader.h"

#include <gtest/gtest.h>

#include <string>

namespace routerscope::gpu {
namespace {

TEST(CublasLoader, LoadsTheLibraryAndResolvesEveryEntryPoint) {
  const CublasApi& api = cublas();
  EXPECT_NE(api.create, nullptr);
  EXPECT_NE(api.destroy, nullptr);
  EXPECT_NE(api.set_math_mode, nullptr);
  EXPECT_NE(api.sgemm, nullptr);
  EXPECT_NE(api.sgemm_strided_batched, nullptr);
  // The names cuBLAS gives its statuses are the enumerators' own.
  EXPECT_EQ(std::string(api.status_name(CUBLAS_STATUS_SUCCESS)), "CUBLAS_STATUS_SUCCESS");
  EXPECT_EQ(std::string(api.status_name(CUBLAS_STATUS_INVALID_VALUE)),
            "CUBLAS_STATUS_INVALID_VALUE");
  EXPECT_NE(std::string(api.status_string(CUBLAS_STATUS_NOT_INITIALIZED)), "");
  EXPECT_EQ(&cublas(), &api); // loaded once
}

} // namespace
} // namespace routerscope::gpu
