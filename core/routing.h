#pragma once
// Token routing with a family's RoutingRule, its backward pass to the logits, and the MoE block
// forward (routed experts + shared experts) of one layer.
#include "core/model.h"
#include "core/types.h"

#include <optional>
#include <vector>

namespace routerscope {

using IndexMatrix = Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Routing {
  MatrixF logits;      // [T, N] x·Rᵀ (+ router bias when rule.logit_bias)
  MatrixF scores;      // [T, N] softmax (over N) or sigmoid of the logits
  MatrixF probs;       // [T, N] router probabilities for the LB loss (softmax; sigmoid: s/Σs)
  IndexMatrix experts; // [T, k] selected experts, best first (ties: lower index wins)
  MatrixF weights;     // [T, k] gate weights of the selected experts
};

// Routes tokens x [T, D] with router [N, D] (stored orientation, logits = x·Rᵀ) and the family's
// rule. bias [N] is the router bias (gpt-oss logit bias or DeepSeek-V3 selection bias; size 0
// when none). Group-limited selection scores a group by its best expert (DeepSeek-V2, softmax)
// or by the sum of its two best (DeepSeek-V3, sigmoid). Phi-3.5-MoE's sparsemixer
// (rule.sparsemixer, k must be 2) is transformers' evaluation-mode rule: each of the two slots
// softmaxes over the experts within a relative 2·jitter_eps of its choice (see routing.cpp); scores
// and probs are the softmax over all N.
Routing route_tokens(const MatrixF& x, const MatrixF& router, const VectorF& bias,
                     const RoutingRule& rule, int k);
// The same from logits = x·Rᵀ [T, N] computed elsewhere (a GPU backend's product): everything after
// the product (bias, scores, probabilities, selection, weights) is this one definition.
Routing route_logits(MatrixF logits, const VectorF& bias, const RoutingRule& rule, int k);

// dL/dlogits [T, N] from dL/dweights [T, k] and (optional, may be empty) dL/dprobs [T, N], with
// the selection held fixed (top-k selection is piecewise constant).
MatrixF routing_backward(const Routing& routing, const RoutingRule& rule,
                         const MatrixF& grad_weights, const MatrixF& grad_probs);

// One layer's MoE weights in Linear orientation (gate/up [d, D], down [D, d]).
struct MoeLayerWeights {
  int layer = 0;
  int top_k = 0;
  RoutingRule rule;
  VectorF router_bias;
  std::vector<MatrixF> gate, up, down;
  std::vector<VectorF> gate_bias, up_bias, down_bias; // per expert; empty list or vectors = none
  MatrixF shared_gate_proj, shared_up, shared_down;   // empty when the layer has no shared expert
  MatrixF shared_gate;                                // [1, D] Qwen2-MoE; empty = ungated
  GatedActivation activation;                         // SiLU, or gpt-oss's clamped SwiGLU
  VectorF output_bias; // [D] added to the block output (JetMoE); empty = none
};
// Decodes every routed (and shared) expert of the layer; top_k overrides the model's (needed when
// a checkpoint has no config.json). Throws BadInput for an activation other than SiLU or when no
// top-k is known.
MoeLayerWeights load_moe_layer(const MoeModel& model, int layer, std::optional<int> top_k = {});

// One gated expert on tokens x [T, D]: act(x·Gᵀ + bg, x·Uᵀ + bu)·Downᵀ + bd -> [T, D], with
// act = SiLU(g)·u or gpt-oss's clamped SwiGLU (see GatedActivation).
MatrixF expert_forward(const MatrixF& gate, const MatrixF& up, const MatrixF& down,
                       const MatrixF& x, const VectorF& gate_bias = {}, const VectorF& up_bias = {},
                       const VectorF& down_bias = {}, const GatedActivation& act = {});

// Shared-expert output [T, D] (zero when the layer has none); Qwen2-MoE scales it by
// sigmoid(x·shared_gateᵀ), DeepSeek adds it ungated.
MatrixF shared_expert_forward(const MoeLayerWeights& w, const MatrixF& x);

// Routed-expert output [T, D] for a given routing: Σ_j weight_j·E_j(x) (Llama-4 instead scales
// the expert input by the weight). slot_outputs, when given, receives E_j(x_t) for slot (t, j) in
// row t·k + j ([T·k, D]; the unweighted expert outputs the router gradient needs).
MatrixF routed_forward(const MoeLayerWeights& w, const Routing& routing, const MatrixF& x,
                       MatrixF* slot_outputs = nullptr);

// The MoE block output [T, D] for a given routing: routed + shared experts + the block's output
// bias (JetMoE).
MatrixF moe_block_output(const MoeLayerWeights& w, const Routing& routing, const MatrixF& x);

// The MoE block: route with router [N, D] and w.rule, then moe_block_output -> [T, D].
MatrixF moe_block_forward(const MoeLayerWeights& w, const MatrixF& router, const MatrixF& x);

} // namespace routerscope
