// CUDA backend on one OLMoE-sized layer (64 experts × [1024, 2048]) and one Mixtral-sized layer
// (8 × [14336, 4096]), weights drawn as BF16-representable values (stored on the device as
// float32, the backend's operand format): time to every expert's principal direction and per MPI
// step (k = 1), against the floor — the weights' bytes read at the device-to-device bandwidth
// measured in the same process (BM_DeviceCopy, bytes read + written per second) — once per pass
// over G: floor = passes_over_G × weight_GB / bandwidth. bench/peer/gpu_peer.py
// does the same work with PyTorch on the same GPU. Links only core, gpu and the CUDA libraries
// (plus Google Benchmark, copied beside the binary), so it runs on a bare GPU machine.
#include "core/compute_backend.h"
#include "gpu/cuda_backend.h"

#include <cuda_runtime.h>

#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstring>
#include <random>

namespace {

using namespace routerscope;

std::unique_ptr<ComputeBackend>& backend() {
  static std::unique_ptr<ComputeBackend> b = [] {
    std::string why;
    auto made = gpu::make_cuda_backend(&why);
    if (!made)
      std::fprintf(stderr, "gpu_bench: no usable GPU: %s\n", why.c_str());
    return made;
  }();
  return b;
}

struct Layer {
  std::vector<MatrixF> g;
  MatrixF router;
  std::unique_ptr<LayerOperators> ops;
  double weight_bytes = 0; // float32 on the device
};

Layer& layer(int which) {
  static Layer layers[2];
  Layer& l = layers[which];
  if (l.g.empty()) {
    const int experts = which == 0 ? 64 : 8, rows = which == 0 ? 1024 : 14336,
              cols = which == 0 ? 2048 : 4096;
    std::mt19937_64 rng(7 + which);
    std::normal_distribution<float> n(0.0f, 0.02f);
    auto bf16 = [](float v) { // round to a BF16-representable float (truncation is enough here)
      std::uint32_t b;
      std::memcpy(&b, &v, 4);
      b &= 0xFFFF0000u;
      std::memcpy(&v, &b, 4);
      return v;
    };
    for (int e = 0; e < experts; ++e) {
      MatrixF m(rows, cols);
      for (Eigen::Index i = 0; i < m.size(); ++i)
        m.data()[i] = bf16(n(rng));
      l.g.push_back(std::move(m));
    }
    l.router = MatrixF(experts, cols);
    for (Eigen::Index i = 0; i < l.router.size(); ++i)
      l.router.data()[i] = n(rng);
    l.weight_bytes = double(experts) * rows * cols * 4;
    l.ops = backend()->upload(l.g);
  }
  return l;
}

void BM_DeviceCopy(benchmark::State& state) {
  if (!backend()) {
    state.SkipWithError("no usable GPU");
    return;
  }
  const size_t bytes = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  cudaMalloc(&a, bytes);
  cudaMalloc(&b, bytes);
  cudaMemset(a, 1, bytes);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (auto _ : state) {
    cudaEventRecord(start);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(2 * bytes));
}

void BM_Directions(benchmark::State& state) {
  if (!backend()) {
    state.SkipWithError("no usable GPU");
    return;
  }
  Layer& l = layer(int(state.range(0)));
  int products = 0;
  for (auto _ : state) {
    auto d = backend()->principal_directions(*l.ops, {}, {});
    products = d.front().iterations;
  }
  // Each product with GᵀG reads G twice (G·V, then Gᵀ·W) for a block of 8 vectors.
  state.counters["products"] = products;
  state.counters["weight_GB"] = l.weight_bytes / 1e9;
  state.counters["passes_over_G"] = 2.0 * products / 8;
}

void BM_MpiStep(benchmark::State& state) {
  if (!backend()) {
    state.SkipWithError("no usable GPU");
    return;
  }
  Layer& l = layer(int(state.range(0)));
  MpiSettings s;
  for (auto _ : state)
    benchmark::DoNotOptimize(backend()->mpi_step(*l.ops, l.router, s));
  state.counters["weight_GB"] = l.weight_bytes / 1e9;
  state.counters["passes_over_G"] = 2;
}

BENCHMARK(BM_DeviceCopy)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Directions)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("layer(0=olmoe,1=mixtral)")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MpiStep)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("layer(0=olmoe,1=mixtral)")
    ->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
