#pragma once
// Router training for one MoE layer with its experts frozen (mpi.md "Training steps"): the router
// is trained to reproduce the checkpoint's own MoE block output, with the Switch LB loss and an
// optional z-loss, by AdamW. Variants (vanilla, mpi, no-power, no-retract) start from the same
// router and see the same token batches, so they can be compared side by side.
#include "core/compute_backend.h"
#include "core/model.h"
#include "core/mpi.h"
#include "core/progress.h"
#include "core/routing.h"
#include "core/spectral.h"
#include "core/types.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace routerscope {

// ---- token sources ----

// Seeded Gaussian mixture [count, d_model]: `clusters` centres ~ N(0, 1), tokens = centre +
// spread·N(0, 1).
MatrixF synthetic_tokens(int count, int d_model, std::uint64_t seed, int clusters = 16,
                         double spread = 0.5);
// RMSNorm x / sqrt(mean(x²) + eps) ⊙ weight, row by row; weight of size 0 means all ones.
MatrixF rms_norm_rows(const MatrixF& x, const VectorF& weight, double eps = 1e-6);
// LayerNorm (x − mean)/sqrt(var + eps) ⊙ weight + bias, row by row (biased variance, as
// torch.nn.LayerNorm); weight/bias of size 0 mean ones/zeros.
MatrixF layer_norm_rows(const MatrixF& x, const VectorF& weight, const VectorF& bias, double eps);
// Tokens x [T, D] through the norm in front of layer's MoE block (RMSNorm, or LayerNorm for
// DBRX and PhiMoE; ModelInfo::pre_moe_norm and norm_eps).
MatrixF pre_moe_normalize(const MoeModel& model, int layer, const MatrixF& x);
// `count` rows of the checkpoint's token embeddings (seeded sample without replacement while
// the vocabulary lasts) through the layer's pre-MoE norm (pre_moe_normalize). Throws BadInput when
// the checkpoint has no embeddings. Note: MoeModel::embeddings() decodes the whole table.
MatrixF embedding_tokens(const MoeModel& model, int layer, int count, std::uint64_t seed);

// ---- variants and settings ----

struct TrainVariant {
  std::string name;            // vanilla | mpi | no-power | no-retract
  bool reparametrised = false; // routes with R′ = MPI(R)
  MpiSettings::Ablation ablation = MpiSettings::Ablation::None;
};
// Parses one variant name; throws BadInput listing the accepted names.
TrainVariant parse_variant(const std::string& name);

struct AdamWSettings {
  double lr = 1e-3; // peak learning rate
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1; // decoupled (PyTorch AdamW)
  double grad_clip = 1.0;    // on the router gradient's Frobenius norm; <= 0 disables
  int warmup_steps = 20;     // linear warm-up from 0
  double min_lr_ratio = 0.1; // cosine decays to min_lr_ratio·lr at the last step
};
// AdamW moments of one parameter matrix; t counts the updates so far.
struct AdamState {
  MatrixF m, v;
  int t = 0;
};
// One AdamW update of r in place (torch.optim.AdamW: decoupled decay r ← r(1 − lr·wd), then
// r ← r − lr·m̂/(√v̂ + eps)), after clipping grad to grad_clip in Frobenius norm; returns the
// gradient norm before clipping.
double adamw_step(MatrixF& r, MatrixF grad, AdamState& st, const AdamWSettings& s, double lr);

// The learning rate at step s in [0, total): linear warm-up, then cosine decay.
double learning_rate(const AdamWSettings& s, int step, int total);

enum class RouterInit { Checkpoint, Random };

struct TrainSettings {
  int layer = 0;
  std::vector<std::string> variants = {"vanilla", "mpi"};
  int steps = 200;
  int batch = 256; // tokens per step, drawn from the training pool
  AdamWSettings adamw;
  double lb_alpha = 0.01; // α of the Switch LB loss
  double z_weight = 0.0;  // weight of the z-loss in the objective (1e-3 when enabled)
  MpiSettings mpi;        // matrix, C′, power steps; order and scoring of the MPI variants
  std::optional<RoutingRule> rule; // vanilla routing rule; empty = the model's own rule
  RouterInit init = RouterInit::Checkpoint;
  double init_std = 0.02;   // std of the seeded random router init
  std::uint64_t seed = 0;   // batches and random init
  int global_every = 10;    // MaxVio_global on the held-out set every n steps (and the last)
  SpectralOptions spectral; // for u₁, σ₁ of the experts (cos and λ)
  // Where the experts' principal directions are computed (null = the CPU). The training step
  // itself runs on the CPU.
  const ComputeBackend* backend = nullptr;
};

// What one variant did at one step. Row s describes the forward pass of step s (the router before
// that step's update), so step 0 shows the starting router.
struct TrainStepRecord {
  int variant = 0; // index into TrainSettings::variants
  std::string name;
  int step = 0;
  double loss = 0;      // total objective: task + lb + z_weight·z
  double task_loss = 0; // MSE(block output, target), mean over T·D
  double lb_loss = 0;   // α·N·Σ f_i P_i (α included)
  double z_loss = 0;    // mean (logsumexp)², unweighted
  double maxvio_batch = 0;
  double lr = 0, grad_norm = 0; // before clipping
  VectorD load;                 // [N] routed slots per expert in the batch
  VectorD cos, lambda,
      router_norm; // [N] of the routing router (R′ for MPI variants, R for vanilla)
  VectorD stored_cos, stored_norm;     // [N] of the stored parameter R (MPI variants; else empty)
  std::optional<double> maxvio_global; // on the held-out set, every global_every steps
};
using TrainCallback = std::function<void(const TrainStepRecord&)>;

struct TrainResult {
  std::vector<TrainVariant> variants;
  std::vector<TrainStepRecord> last; // the last record of each variant
  MatrixF initial_router;            // the common starting router [N, D]
  std::vector<MatrixF> routers;      // final stored routers [N, D], one per variant
  int steps_done = 0;
  bool cancelled = false;
};

// ---- the objective (exposed for tests and benchmarks) ----

// One layer prepared for training: weights, direction operators and principal directions.
struct TrainingLayer {
  MoeLayerWeights weights;
  std::vector<MatrixF> g; // direction operators [d, D] for settings.mpi.matrix
  std::vector<PrincipalDirection> directions;
};
TrainingLayer prepare_training_layer(const MoeModel& model, const TrainSettings& settings);

// The routing rule a variant uses: the vanilla rule, or for MPI variants the same rule with the
// MPI settings' gate order and scoring.
RoutingRule variant_rule(const RoutingRule& vanilla, const TrainVariant& v, const MpiSettings& mpi);

// What an MPI router of `vanilla`'s family keeps from the checkpoint or ignores, one sentence
// each, for a warning line: the logit bias (gpt-oss), the selection bias (DeepSeek-V3), the
// routed scaling factor, and C′ when the scoring is sigmoid (the radius is then 1).
std::vector<std::string> mpi_rule_caveats(const RoutingRule& vanilla, bool c_prime_given);

struct Objective {
  double total = 0, task = 0, lb = 0, z = 0;
  MatrixF grad;           // dL_total/dR of the stored router [N, D]
  MatrixF routing_router; // R′ (MPI variants) or R
  Routing routing;
};
// Loss and analytic gradient of the stored router r [N, D] on tokens x [T, D] against the target
// routed-expert output [T, D] (the shared expert cancels in the difference and is left out).
Objective router_objective(const TrainingLayer& layer, const MatrixF& r, const TrainVariant& v,
                           const RoutingRule& rule, const MatrixF& x, const MatrixF& target,
                           const TrainSettings& settings);

// Target for tokens x [T, D]: routed-expert output with the layer's original router and rule.
MatrixF training_target(const MoeModel& model, const TrainingLayer& layer, const MatrixF& x,
                        const RoutingRule& rule);

// Trains every variant on the same batches of `tokens` [T, D]; held_out [H, D] feeds
// MaxVio_global (may be empty). Stops early, with result.cancelled, when progress is cancelled.
TrainResult train_router(const MoeModel& model, const MatrixF& tokens, const MatrixF& held_out,
                         const TrainSettings& settings, const TrainCallback& callback = {},
                         const Progress& progress = {});

} // namespace routerscope
