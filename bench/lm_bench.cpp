// Pretraining throughput (issue 10): one training step (forward, analytic backward, AdamW) of the
// default small Mixtral (d_model 128, 4 layers, 4 heads, 8 experts top-2, d_expert 256, ctx 128,
// batch 16) per iteration, for each router variant, on 2 threads. tokens/s = batch·ctx per step.
// The PyTorch eager peer does the same work:
//   /usr/bin/python3 tests/peer/mixtral_peer.py bench --variant vanilla --threads 2
#include "core/lm/lm_trainer.h"

#include <benchmark/benchmark.h>
#include <random>

namespace {

using namespace routerscope;
using namespace routerscope::lm;

std::vector<std::int32_t> random_bytes(size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> b(0, 255);
  std::vector<std::int32_t> out(n);
  for (auto& x : out)
    x = b(rng);
  return out;
}

void BM_PretrainStep(benchmark::State& state, const char* variant) {
  LmSettings s;
  s.variants = {variant};
  s.threads = int(state.range(0));
  s.steps = 1000;
  LmTrainer trainer(LmConfig{}, s, random_bytes(1 << 20, 1), {});
  trainer.step(); // warm-up: first-touch allocation of the optimiser state
  for (auto _ : state)
    benchmark::DoNotOptimize(trainer.step());
  state.counters["tokens/s"] = benchmark::Counter(
      double(state.iterations()) * s.batch * LmConfig{}.ctx, benchmark::Counter::kIsRate);
}

} // namespace

// Arg = threads. With 1 thread Google Benchmark's CPU time is the whole work, comparable with the
// peer's tokens_per_cpu_s on a machine shared with other jobs.
BENCHMARK_CAPTURE(BM_PretrainStep, vanilla, "vanilla")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5.0);
BENCHMARK_CAPTURE(BM_PretrainStep, mpi, "mpi")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5.0);

BENCHMARK_MAIN();
