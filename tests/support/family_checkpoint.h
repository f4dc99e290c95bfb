#pragma once
// Builds small Hugging Face style MoE checkpoints of every supported family from known random
// matrices, and returns the values a correct reader must decode (Linear orientation).
#include "core/types.h"
#include "io/dtype.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace routerscope::test {

struct FamilySpec {
  // mixtral, olmoe, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, gpt_oss, phimoe, granitemoe,
  // jetmoe, dbrx, llama4.
  std::string family = "mixtral";
  // "" (the family's native layout), "stacked" (transformers v5 gate_up_proj/down_proj, for the
  // per-expert families), "mxfp4" (gpt_oss blocks/scales), "fp8" (deepseek_v3 F8_E4M3 experts with
  // 128x128 weight_scale_inv).
  std::string variant;
  int layers = 2, experts = 4, top_k = 2, d_model = 16, d_expert = 8, vocab = 10;
  io::DType dtype = io::DType::F32; // plain float tensors: F32, BF16 or F16
  std::vector<int>
      dense_layers; // expressed in the config (mlp_only_layers, first_k_dense_replace, moe_layers)
  int shared_width = 0;     // shared expert MLP width (qwen2_moe, deepseek_*, llama4); 0 = none
  int n_shared_experts = 1; // DeepSeek n_shared_experts (shared_width = n * d_expert)
  std::string layer_prefix; // "" = the family's own ("model.layers.", ...)
  bool write_config = true;
  bool sharded = false;                   // two shards + model.safetensors.index.json
  std::set<std::string> omit;             // tensor names not to write (error tests)
  std::map<std::string, MatrixF> replace; // written instead of the generated matrix (error tests)
  std::map<std::string, std::string> rename; // tensor name -> name written (Hub naming variants)
  nlohmann::json config_patch = nlohmann::json::object(); // RFC 7386 merge patch (null deletes)
  std::uint64_t seed = 1;
};

struct ExpectedExpert {
  MatrixF gate, up, down; // [d, D], [d, D], [D, d]
  VectorF gate_bias, up_bias, down_bias;
};

struct ExpectedLayer {
  bool moe = false;
  MatrixF router; // [E, D]
  VectorF router_bias;
  std::vector<ExpectedExpert> experts;
  MatrixF shared_gate_proj, shared_up, shared_down, shared_gate;
  VectorF norm;
  VectorF moe_bias; // JetMoE mlp.bias [D], added to the block output
};

struct FamilyCheckpoint {
  std::map<int, ExpectedLayer> layers;
  MatrixF embeddings;
  nlohmann::json config;
  std::vector<std::string> tensor_names;
};

// Writes `spec` into `dir` (model.safetensors or shards, config.json unless disabled). Expected
// values are the original floats, except FP8/MXFP4 tensors, whose expected values are dequantised
// here with independent decoders (compare BF16/F16 with a relative tolerance).
FamilyCheckpoint write_family_checkpoint(const std::filesystem::path& dir, const FamilySpec& spec);

// Independent reference decoders (bit-level, from the format definitions).
float reference_e4m3(std::uint8_t bits);
float reference_e2m1(std::uint8_t nibble);

} // namespace routerscope::test
