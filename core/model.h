#pragma once
// The domain description of an MoE checkpoint. Opening a model reads headers and config only;
// every weight accessor decodes one tensor slice on demand (one expert or one router), so peak
// memory does not grow with the checkpoint. Implementations live in io/ (CheckpointModel) and in
// tests (in-memory models).
#include "core/types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace routerscope {

// Which expert matrix defines the principal direction (mpi.md "The principle").
enum class ExpertMatrix { Gate, Up, Down };
std::string_view to_string(ExpertMatrix m);
// Parses "gate" | "up" | "down"; throws BadInput naming the accepted values otherwise.
ExpertMatrix parse_expert_matrix(std::string_view text);

enum class Scoring { Softmax, Sigmoid };
// SoftmaxTopk: softmax over all N, then top-k (OLMoE/Mixtral, the paper's pseudo code).
// TopkSoftmax: top-k on logits, then softmax over the k (gpt-oss, Granite, the paper's Eq. 6).
enum class GateOrder { SoftmaxTopk, TopkSoftmax };

// How a family's own (vanilla) router turns logits into expert weights.
struct RoutingRule {
  Scoring scoring = Scoring::Softmax;
  GateOrder order = GateOrder::SoftmaxTopk;
  bool renormalize = false; // divide the k selected weights by their p-norm (p = renorm_p)
  double renorm_p = 1.0;    // DBRX moe_normalize_expert_weights; 1 = their sum (positive weights)
  double scaling = 1.0;     // routed_scaling_factor (DeepSeek)
  bool logit_bias = false;  // gpt-oss: router.bias added to logits
  bool selection_bias = false; // DeepSeek-V3: e_score_correction_bias added for selection only
  int n_group = 1;             // DeepSeek group-limited routing
  int topk_group = 1;
  bool sparsemixer = false;         // Phi-3.5-MoE (top-2 only; see route_logits)
  double jitter_eps = 0.01;         // sparsemixer's mask threshold (router_jitter_noise)
  bool sigmoid_input_scale = false; // Llama-4: sigmoid(score) scales the expert input
};

// How an expert joins its gate g and up u projections. SiLU: SiLU(g)·u. gpt-oss clamps and
// shifts (transformers GptOssExperts.forward): g ← min(g, limit), u ← clamp(u, ±limit),
// h = (u + 1)·g·σ(α·g).
struct GatedActivation {
  bool clamped_swiglu = false;
  double limit = 7.0;   // swiglu_limit
  double alpha = 1.702; // swiglu_alpha
};

// The normalisation in front of the MoE block: RMSNorm (most families) or LayerNorm (DBRX norm_2,
// PhiMoE post_attention_layernorm).
enum class NormKind { Rms, Layer };

struct LayerInfo {
  int layer = 0; // decoder layer index in the checkpoint
  bool moe = false;
  int experts = 0; // routed experts N
  std::optional<int> top_k;
  int d_expert = 0;         // expert width d
  int shared_experts = 0;   // shared (always-on) experts: reported, never routed
  int d_shared = 0;         // total width of the shared MLP (0 when none)
  bool shared_gate = false; // Qwen2-MoE sigmoid shared_expert_gate
};

struct ModelInfo {
  std::string path;   // what the user opened
  std::string family; // mixtral, olmoe, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, gpt_oss,
                      // phimoe, granitemoe, jetmoe, dbrx, llama4
  std::string layout; // per_expert | stacked | fused
  bool has_config = false;
  int d_model = 0;
  std::vector<LayerInfo> layers;   // every decoder layer, MoE or dense
  std::vector<std::string> dtypes; // distinct dtypes of the expert/router tensors, sorted
  std::uint64_t bytes_on_disk = 0;
  RoutingRule routing;
  std::string activation = "silu";
  GatedActivation gated; // how activation is applied (clamped SwiGLU for gpt-oss)
  NormKind pre_moe_norm = NormKind::Rms;
  double norm_eps = 1e-6; // rms_norm_eps / layer_norm_epsilon of the pre-MoE norm

  const LayerInfo& layer(int index) const;     // throws BadInput when absent
  const LayerInfo& moe_layer(int index) const; // throws BadInput when absent or dense
  std::vector<int> moe_layers() const;
};

class MoeModel {
public:
  virtual ~MoeModel() = default;
  virtual const ModelInfo& info() const = 0;

  // Router weight as stored, [N, D]: logits = x · Rᵀ.
  virtual MatrixF router(int layer) const = 0;
  // gpt-oss router.bias or DeepSeek-V3 e_score_correction_bias, [N]; size 0 when the family has
  // none.
  virtual VectorF router_bias(int layer) const = 0;
  // One routed expert's matrix in HF Linear orientation: gate/up [d, D], down [D, d].
  virtual MatrixF expert_weight(int layer, int expert, ExpertMatrix m) const = 0;
  // Expert bias (gpt-oss): gate/up [d], down [D]; size 0 when none.
  virtual VectorF expert_bias(int layer, int expert, ExpertMatrix m) const = 0;
  // Shared expert MLP in Linear orientation; empty (0x0) when the layer has none.
  virtual MatrixF shared_weight(int layer, ExpertMatrix m) const = 0;
  // Qwen2-MoE shared_expert_gate [1, D]; empty when none.
  virtual MatrixF shared_gate(int layer) const = 0;
  // Token embeddings [vocab, D]; empty when absent from the checkpoint.
  virtual MatrixF embeddings() const = 0;
  // The weight of the norm applied before the MoE block (post_attention_layernorm) [D]; size 0
  // if none. ModelInfo::pre_moe_norm says whether it is an RMSNorm or a LayerNorm.
  virtual VectorF pre_moe_norm(int layer) const = 0;
  // The LayerNorm bias of that norm [D] (PhiMoE); size 0 when none.
  virtual VectorF pre_moe_norm_bias(int /*layer*/) const { return {}; }
  // A bias added to the whole MoE block output [D] (JetMoE mlp.bias); size 0 when none.
  virtual VectorF moe_output_bias(int /*layer*/) const { return {}; }
  // Where weights are stored, for messages ("" for a model without tensors): the router tensor,
  // and one expert's matrix (a stacked tensor followed by the expert's index or rows).
  virtual std::string router_tensor(int /*layer*/) const { return {}; }
  virtual std::string expert_tensor(int /*layer*/, int /*expert*/, ExpertMatrix /*m*/) const {
    return {};
  }
};

// The matrix G with D columns whose top right singular vector is the expert's principal direction
// in ℝ^D: gate/up as stored [d, D]; down transposed from its stored [D, d] to [d, D].
MatrixF direction_operator(const MoeModel& model, int layer, int expert, ExpertMatrix m);

} // namespace routerscope
