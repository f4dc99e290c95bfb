#pragma once
// A pretrained language model as a Hugging Face Mixtral checkpoint folder: config.json
// (model_type "mixtral", transformers' MixtralConfig keys) and model.safetensors (F32, the names
// and [out, in] shapes of lm::lm_tensor_layout, which are transformers'), loadable by
// transformers' MixtralForCausalLM and by `routerscope inspect/align/gui`. The router each layer
// stores as `gate.weight` is the one that routes (R′ for MPI variants). What --resume needs beyond
// that (raw R, AdamW moments, the step and the run's settings) goes beside it in
// routerscope_state.safetensors.
#include "core/lm/lm_model.h"
#include "core/lm/lm_trainer.h"
#include "core/types.h"

#include <filesystem>
#include <map>
#include <string>

namespace routerscope::io {

// "--d-model 128 vs 64, --experts 8 vs 4" for every architecture field that differs (empty when
// equal), named by the pretrain option that sets it.
std::string describe_difference(const lm::LmConfig& a, const lm::LmConfig& b);

// config.json text for `config` (max_position_embeddings = ctx), with `extra` (a JSON object
// text) under the key "routerscope".
std::string mixtral_config_json(const lm::LmConfig& config, const std::string& extra = "{}");
// Reads config.json of `dir` into an LmConfig (ctx = max_position_embeddings). BadInput naming
// the file and key when it is missing, not mixtral, a key is absent or out of range, or the
// architecture is one the engine does not run (num_key_value_heads != num_attention_heads,
// head_dim != hidden_size / num_attention_heads).
lm::LmConfig read_mixtral_config(const std::filesystem::path& dir);

struct LmCheckpoint {
  lm::LmParams<float> params;           // gate.weight as it routes
  std::map<std::string, MatrixF> state; // resume state (any names); empty = none
  std::string state_metadata = "{}";    // JSON object text stored with the state
  std::string config_extra = "{}";      // JSON object text under config.json "routerscope"
  int global_step = -1; // >= 0: written as trainer_state.json {"global_step": N} (series step)
};

// Writes config.json, model.safetensors (F32), when `ckpt.state` is not empty
// routerscope_state.safetensors and, when `ckpt.global_step` >= 0, trainer_state.json (the step,
// as transformers' Trainer writes it, so that saved checkpoints form a `series`) into `dir`
// (created), each to a temporary name renamed when complete.
void save_lm_checkpoint(const std::filesystem::path& dir, const LmCheckpoint& ckpt);

// Loads a Mixtral checkpoint folder (any dtype the project decodes, sharded or not): every tensor
// of lm_tensor_layout must be present with exactly that shape (BadInput naming the tensor,
// expected and found). With `with_state`, routerscope_state.safetensors must be there too.
LmCheckpoint load_lm_checkpoint(const std::filesystem::path& dir, bool with_state = false);

// One variant of a run as a checkpoint to save: `routing` (gate.weight = R′ for MPI variants) as
// the weights and, as state, each layer's raw router R ("raw_router.<l>" [E, D], taken from
// `stored`, the parameters as stored), the AdamW moments ("adam_m", "adam_v" [1, P] in
// lm_tensor_layout order) and `metadata` (a JSON object text to which "step" and "variant" are
// added).
LmCheckpoint variant_checkpoint(const lm::LmParams<float>& routing,
                                const lm::LmVariantState& stored, int step,
                                const std::string& metadata);
// The inverse: a saved variant's parameters as stored (raw R in gate.weight) and moments.
// BadInput naming `dir` when a state tensor is missing or has the wrong size.
lm::LmVariantState variant_state(const LmCheckpoint& ckpt, const std::string& name,
                                 const std::filesystem::path& dir);

} // namespace routerscope::io
