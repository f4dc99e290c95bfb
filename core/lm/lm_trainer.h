#pragma once
// Pretraining A/B (issue 10): every variant (vanilla, mpi, no-power, no-retract) starts from the
// same parameters and sees the same batches; AdamW (β 0.9/0.95, weight decay on matrices only),
// linear warm-up + cosine (core/training.h learning_rate), global gradient-norm clip.
// Data arrive as token vectors (bytes for the default vocabulary); files are io's business.
#include "core/lm/lm_config.h"
#include "core/lm/lm_model.h"
#include "core/progress.h"
#include "core/spectral.h"
#include "core/training.h"
#include "core/types.h"

#include <cstdint>
#include <string>
#include <vector>

namespace routerscope::lm {

struct LmSettings {
  std::vector<std::string> variants = {"vanilla", "mpi"};
  AdamWSettings adamw{.lr = 3e-3, .warmup_steps = 20};
  double lb_alpha = 0.01;
  MpiSettings mpi; // c_prime (4), power_steps (1); the matrix is always W1
  std::uint64_t seed = 0;
  int batch = 16;  // windows per step (each of config.ctx tokens)
  int steps = 600; // total, for the cosine schedule
  int threads = 2;
  int eval_windows = 0; // validation windows per evaluate(); 0 = all
  // Throws BadInput naming the option (--lr, --batch, --variants, ...).
  void validate() const;
};

struct LmLayerStep {
  VectorD load; // [E] routed slots per expert in the batch
  double maxvio_batch = 0;
  VectorD raw_norm;     // [E] ‖R[i]‖ of the stored router
  VectorD routing_norm; // [E] ‖R′[i]‖ of the router that routes (= raw for vanilla)
  VectorD sigma1;       // [E] σ₁ of each expert's W1 (exact)
};

struct LmVariantStep {
  std::string name;
  int step = 0; // forward pass of step `step` (parameters before that step's update)
  double loss = 0, lm_loss = 0, lb_loss = 0; // lb_loss unweighted (loss = lm + α·lb)
  double grad_norm = 0;                      // global, before clipping
  double lr = 0;
  double tokens_per_s = 0; // this variant's forward + backward + update
  std::vector<LmLayerStep> layers;
};

struct LmLayerEval {
  VectorD load; // [E] routed slots per expert over the validation windows
  double maxvio_global = 0;
};
struct LmVariantEval {
  std::string name;
  double bits_per_token = 0; // mean CE / ln 2 (bits per byte for the byte vocabulary)
  std::vector<LmLayerEval> layers;
};

struct LmLayerAlignment {
  VectorD cos, lambda; // [E] of the routing rows (R′ for MPI variants) vs u₁(W1ᵀ)
  VectorD stored_cos, stored_lambda; // [E] of the stored rows R
  double mean_lambda = 0;            // over experts with a defined u₁
};
struct LmVariantAlignment {
  std::string name;
  std::vector<LmLayerAlignment> layers;
};

// Everything --resume needs, per variant: parameters (gate = raw R), AdamW moments, and the step
// (batches are a function of seed and step, so no RNG state beyond those).
struct LmVariantState {
  std::string name;
  std::vector<float> params, adam_m, adam_v; // lm_tensor_layout order
};
struct LmTrainerState {
  LmConfig config;
  int step = 0;
  std::uint64_t seed = 0;
  std::vector<LmVariantState> variants;
};

class LmTrainer {
public:
  // train: at least ctx + 1 tokens; val: may be empty (evaluate() then throws BadInput).
  // Throws BadInput for an invalid config/settings or too short data.
  LmTrainer(const LmConfig& config, const LmSettings& settings, std::vector<std::int32_t> train,
            std::vector<std::int32_t> val);

  const LmConfig& config() const { return config_; }
  const LmSettings& settings() const { return settings_; }
  int variant_count() const { return int(variants_.size()); }
  const std::string& variant_name(int v) const { return variants_[size_t(v)].routing.variant.name; }
  int step_index() const { return step_; } // steps done

  // The batch of step s: B windows at offsets drawn from (seed, s), for peers and tests.
  LmBatch batch(int s) const;
  std::vector<std::int64_t> batch_offsets(int s) const;

  // One step of every variant on the same batch. A non-finite loss or gradient throws BadInput
  // naming the step, variant and layer (the parameters stay as before the step).
  std::vector<LmVariantStep> step();

  // Validation on val with lm_bits_per_token's definition (windows of ctx tokens from the start;
  // the first eval_windows of them when that is > 0), plus each layer's loads for MaxVio global.
  std::vector<LmVariantEval> evaluate() const;

  // |cos| and λ (Eq. 11) of each routing and stored row against u₁ of its W1ᵀ (core/spectral).
  std::vector<LmVariantAlignment> alignment(const SpectralOptions& options = {}) const;

  // Stored parameters (gate.weight = raw R for MPI variants).
  const LmParams<float>& params(int v) const { return variants_[size_t(v)].params; }
  // Parameters as they route: gate.weight = R′ for MPI variants (what --save writes).
  LmParams<float> routing_params(int v) const;
  MatrixF raw_router(int v, int layer) const;
  MatrixF routing_router(int v, int layer) const;
  const LmRouting& routing(int v) const { return variants_[size_t(v)].routing; }

  LmTrainerState export_state() const;
  // Throws BadInput naming the mismatch (config field, variant name, tensor count).
  void import_state(const LmTrainerState& state);

private:
  struct Variant {
    LmRouting routing;
    LmParams<float> params;
    std::vector<float> m, v;
  };
  LmConfig config_;
  LmSettings settings_;
  std::vector<std::int32_t> train_, val_;
  std::vector<Variant> variants_;
  int step_ = 0;
};

// lm-eval's contract: mean next-token cross-entropy in bits per token (bits per byte for the byte
// vocabulary) of a model that routes with its gate.weight as stored (vanilla routing; a saved MPI
// checkpoint holds R′ there) over non-overlapping windows of `ctx` tokens from the start of
// `tokens`, every position of a window predicting the next token inside that window (ctx − 1
// predictions per window), a last partial window dropped. Throws BadInput when fewer than ctx
// tokens (or ctx < 2) are given.
// progress: fraction of windows done; cancellation throws Error(Cancelled) between batches.
double lm_bits_per_token(const LmParams<float>& params, const std::vector<std::int32_t>& tokens,
                         int ctx, int threads, const Progress& progress = {});

} // namespace routerscope::lm
