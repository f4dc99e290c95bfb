#pragma once
// The CUDA ComputeBackend (core/compute_backend.h): batched principal directions of a whole layer
// (block subspace iteration with Rayleigh–Ritz, cuBLAS strided-batched products), the MPI step,
// and routing. Nothing outside gpu/ includes a CUDA header; the rest of the program reaches this
// backend through choose_backend() once register_cuda_backend() has run.
#include "core/compute_backend.h"

#include <memory>
#include <string>

namespace routerscope::gpu {

// A backend on device 0, or nullptr with *why_not set (no driver, no device, ...).
std::unique_ptr<ComputeBackend> make_cuda_backend(std::string* why_not);

// Installs make_cuda_backend as core's GPU backend factory.
void register_cuda_backend();

} // namespace routerscope::gpu
