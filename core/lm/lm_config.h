#pragma once
// The pinned small Mixtral language model (issue 10): its shape, and the parameters as named
// tensors in transformers' MixtralForCausalLM names and storage orientation ([out, in]).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace routerscope::lm {

struct LmConfig {
  int vocab = 256;    // byte-level by default; a token file sets its own
  int d_model = 128;  // D (hidden_size)
  int layers = 4;     // decoder layers
  int heads = 4;      // attention heads; key/value heads = heads
  int experts = 8;    // N routed experts per layer
  int top_k = 2;      // experts per token
  int d_expert = 256; // F (intermediate_size)
  int ctx = 128;      // T, tokens per training window
  double rope_theta = 1e4;
  double norm_eps = 1e-5; // RMSNorm eps
  double init_std = 0.02; // N(0, init_std²) for every matrix; RMSNorm weights start at 1
  // Throws BadInput naming the option (--heads, --top-k, ...) and the value found.
  void validate() const;
  int head_dim() const { return d_model / heads; }
};

// One parameter tensor inside the flat parameter buffer (LmParams): its transformers name, its
// storage shape ([out, in] for a Linear, [D] for an RMSNorm weight) and where it lies.
struct LmTensorInfo {
  std::string name;
  std::vector<std::int64_t> shape; // row-major
  std::size_t offset = 0;          // in elements from the start of the buffer
  std::size_t size = 0;            // elements
  bool matrix = false;             // weight decay applies to matrices only
};

// Every tensor of the model in a fixed order: model.embed_tokens.weight [V, D]; per layer l
// model.layers.{l}.input_layernorm.weight [D], self_attn.{q,k,v,o}_proj.weight [D, D],
// post_attention_layernorm.weight [D], block_sparse_moe.gate.weight [E, D],
// block_sparse_moe.experts.{e}.w1.weight [F, D], .w2.weight [D, F], .w3.weight [F, D];
// model.norm.weight [D]; lm_head.weight [V, D].
std::vector<LmTensorInfo> lm_tensor_layout(const LmConfig& config);

// Index of each tensor of a layer in lm_tensor_layout's order (the hot path avoids name lookups).
struct LmLayerSlots {
  int input_norm, q, k, v, o, post_norm, gate;
  std::vector<int> w1, w2, w3; // [experts]
};
struct LmSlots {
  int embed, final_norm, lm_head;
  std::vector<LmLayerSlots> layers;
};
LmSlots lm_slots(const LmConfig& config);

} // namespace routerscope::lm
