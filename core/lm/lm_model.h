#pragma once
// Forward and analytic backward of the pinned Mixtral language model (issue 10), templated on the
// scalar so that float trains and double is checked against finite differences. Tokens pass
// embedding → L × [RMSNorm → causal MHA with RoPE → +; RMSNorm → sparse MoE → +] → RMSNorm →
// lm_head. Routing: softmax over all E of x·Rᵀ → top-k → renormalise (Mixtral); for MPI variants
// the router that routes is R′ = lm_routing_router(R, W1 of every expert).
#include "core/lm/lm_config.h"
#include "core/mpi.h"
#include "core/training.h"
#include "core/types.h"

#include <Eigen/Core>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace routerscope::lm {

template <typename S> using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename S> using MatMap = Eigen::Map<Mat<S>>;
template <typename S> using ConstMatMap = Eigen::Map<const Mat<S>>;

// All parameters of one model in one contiguous buffer, laid out as lm_tensor_layout says.
template <typename S> class LmParams {
public:
  LmParams() = default;
  explicit LmParams(const LmConfig& config); // all zeros
  const LmConfig& config() const { return config_; }
  const std::vector<LmTensorInfo>& tensors() const { return tensors_; }
  const LmSlots& slots() const { return slots_; }
  std::span<S> data() { return data_; }
  std::span<const S> data() const { return data_; }
  std::vector<S>& buffer() { return data_; }
  const std::vector<S>& buffer() const { return data_; }
  // Tensor `slot` as a [rows, cols] row-major matrix (an RMSNorm weight is [1, D]).
  MatMap<S> mat(int slot);
  ConstMatMap<S> mat(int slot) const;
  // Index of the tensor named `name`; throws BadInput naming it when absent.
  int find(std::string_view name) const;
  void set_zero();

private:
  LmConfig config_;
  std::vector<LmTensorInfo> tensors_;
  LmSlots slots_;
  std::vector<S> data_;
};

// Seeded initialisation: matrices N(0, init_std²) (std::mt19937_64, tensor order of the layout),
// RMSNorm weights 1. Same seed, same parameters.
LmParams<float> lm_init(const LmConfig& config, std::uint64_t seed);

template <typename T, typename S> LmParams<T> lm_cast(const LmParams<S>& p);

// How a variant routes. vanilla: gate.weight R routes. Reparametrised (mpi, no-power,
// no-retract): R′ = (C′/√N)·normalize((W1ᵀW1)^k R[i]) per expert i (ablations as in core/mpi.h),
// recomputed from the current R and W1 at every forward pass; gradients reach both R and W1.
struct LmRouting {
  TrainVariant variant; // from parse_variant (core/training.h)
  MpiSettings mpi;      // c_prime, power_steps; matrix is W1 (gate) always
};

// R′ [E, D] of layer `layer` from the stored router and the experts' W1 [F, D] (as stored).
// For vanilla, R itself. Throws BadInput naming the layer and expert when a row cannot be
// retracted (zero or non-finite).
template <typename S>
Mat<S> lm_routing_router(const LmParams<S>& p, int layer, const LmRouting& routing);

// A batch of B windows of T tokens: inputs[b·T + t] predicts targets[b·T + t].
struct LmBatch {
  int batch = 0, seq = 0;
  std::vector<std::int32_t> inputs, targets;
};

struct LmLayerForward {
  VectorD load;      // [E] routed slots per expert over the batch
  VectorD prob_mean; // [E] mean router probability P_i over the batch's tokens
  double lb = 0;     // N·Σ f_i P_i (unweighted)
};

struct LmLoss {
  double total = 0; // lm + lb_alpha·lb
  double lm = 0;    // mean next-token cross-entropy, nats
  double lb = 0;    // Switch LB averaged over layers (unweighted)
  std::vector<LmLayerForward> layers;
};

// Loss of the batch; with `grad` (same config as p), also dL_total/dθ for every parameter
// (overwritten). lb_alpha weights the LB term. Throws BadInput naming the layer when a value
// becomes non-finite, or a token is outside [0, vocab). `threads` as parallel_for.
template <typename S>
LmLoss lm_loss(const LmParams<S>& p, const LmRouting& routing, const LmBatch& batch,
               double lb_alpha, LmParams<S>* grad, int threads);

} // namespace routerscope::lm
