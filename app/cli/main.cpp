#include "app/cli/cli.h"

#if defined(ROUTERSCOPE_HAVE_CUDA)
#include "gpu/cuda_backend.h"
#endif

int main(int argc, char** argv) {
#if defined(ROUTERSCOPE_HAVE_CUDA)
  routerscope::gpu::register_cuda_backend(); // --device auto|cuda can then choose the GPU
#endif
  return routerscope::cli::run(argc, argv);
}
