#pragma once
// Layout rules: from config.json (optional) and safetensors headers to a plan that says, for every
// decoder layer, which tensors hold the router, each expert's gate/up/down and the shared expert,
// and how to slice them into HF Linear orientation. Planning reads headers and config only.
#include "core/model.h"
#include "io/safetensors.h"

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

// Where one expert matrix lives and how to turn it into Linear orientation [out, in].
struct MatrixSource {
  enum class Index {
    PerExpert, // one tensor per expert: `name` holds "{e}" for the expert index
    Lead,      // stacked [E, R, C]: the expert is the first index
    RowBlock,  // 2-D [E·block, C]: the expert owns rows e·block .. (e+1)·block (DBRX)
  };
  std::string name;
  Index index = Index::PerExpert;
  std::int64_t block = 0; // RowBlock: rows per expert
  // Stored [in, out] (input-major): the selection runs over columns and the result is transposed.
  bool input_major = false;
  // Selection along the output axis: begin, begin + step, ... (count of them).
  std::int64_t begin = 0;
  std::int64_t count = 0;
  std::int64_t step = 1;

  std::string tensor_name(int expert) const; // `name` with "{e}" replaced
};

// A bias vector inside a 2-D [E, n] tensor: columns begin, begin + step, ... of row `expert`.
struct BiasSource {
  std::string name; // empty: none
  std::int64_t begin = 0;
  std::int64_t count = 0;
  std::int64_t step = 1;
};

struct LayerPlan {
  int layer = 0;
  bool moe = false;
  std::string router;      // [E, D]
  std::string router_bias; // [E] or empty
  MatrixSource gate, up, down;
  BiasSource gate_bias, up_bias, down_bias;
  std::string shared_gate_proj, shared_up_proj, shared_down_proj; // Linear tensors or empty
  std::string shared_gate;                                        // [1, D] or empty
  std::string norm;                                               // [D] or empty
  std::string norm_bias;   // [D] LayerNorm bias of the pre-MoE norm (PhiMoE) or empty
  std::string output_bias; // [D] bias added to the MoE block output (JetMoE mlp.bias) or empty
};

struct CheckpointPlan {
  ModelInfo info;
  std::map<int, LayerPlan> layers; // every decoder layer
  std::string embeddings;          // [vocab, D] or empty
};

// Plans the checkpoint in `store` with its config.json (`config` is null when there is none;
// `config_path` names it in messages). Validates every router/expert/shared tensor shape against
// E, D and d (headers only) and throws BadInput naming the tensor, expected versus found; a
// configured MoE layer without its router, and a model with no MoE layer, are BadInput too.
CheckpointPlan plan_checkpoint(const TensorStore& store, const nlohmann::json* config,
                               const std::string& config_path, const std::string& opened);

} // namespace routerscope::io
