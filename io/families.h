#pragma once
// Inside the layout rules (io only): config access, the MoE block shapes with their expert
// layouts, and the checkpoint families. `plan_checkpoint` (io/layout_rules.h) is the entry point.
#include "core/error.h"
#include "core/model.h"
#include "io/layout_rules.h"
#include "io/safetensors.h"
#include "io/tensor_decode.h"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace routerscope::io::layout {

using nlohmann::json;

std::string shape_text(const std::vector<std::int64_t>& s);

// ---- config access --------------------------------------------------------------------------

const json* member(const json* obj, const char* key);
std::string shown(const json& v);

struct Config {
  const json* root = nullptr;  // whole config.json (null when absent or the family is unknown)
  const json* scope = nullptr; // where the family's keys live (text_config / ffn_config)
  std::string path;

  std::optional<std::int64_t> integer(const json* obj,
                                      std::initializer_list<const char*> keys) const {
    return integer(obj, std::span<const char* const>(keys.begin(), keys.size()));
  }
  // The first of `keys` present (null entries are skipped).
  std::optional<std::int64_t> integer(const json* obj, std::span<const char* const> keys) const {
    // Every integer key is a count or a size: negative is bad input, never "absent".
    for (const char* k : keys)
      if (const json* v = k ? member(obj, k) : nullptr) {
        std::optional<std::int64_t> out;
        if (v->is_number_unsigned()) {
          if (v->get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<std::int64_t>::max()))
            out = v->get<std::int64_t>();
        } else if (v->is_number_integer()) {
          out = v->get<std::int64_t>();
        } else if (v->is_number_float()) {
          const double d = v->get<double>();
          if (d == std::floor(d) && std::abs(d) < 9.2e18) // in range before converting
            out = static_cast<std::int64_t>(d);
        }
        if (!out)
          throw_input_error(path + ": key " + k + " must be an integer, found " + shown(*v));
        if (*out < 0)
          throw_input_error(path + ": key " + k + " must be a non-negative integer, found " +
                            std::to_string(*out));
        return out;
      }
    return std::nullopt;
  }
  std::optional<double> number(const json* obj, const char* key) const {
    if (const json* v = member(obj, key)) {
      if (!v->is_number())
        throw_input_error(path + ": key " + key + " must be a number, found " + shown(*v));
      return v->get<double>();
    }
    return std::nullopt;
  }
  std::optional<bool> boolean(const json* obj, const char* key) const {
    if (const json* v = member(obj, key)) {
      if (!v->is_boolean())
        throw_input_error(path + ": key " + key + " must be true or false, found " + shown(*v));
      return v->get<bool>();
    }
    return std::nullopt;
  }
  std::optional<std::string> text(const json* obj, const char* key) const {
    if (const json* v = member(obj, key)) {
      if (!v->is_string())
        throw_input_error(path + ": key " + key + " must be a string, found " + v->dump());
      return v->get<std::string>();
    }
    return std::nullopt;
  }
  std::vector<std::int64_t> int_list(const json* obj, const char* key) const {
    std::vector<std::int64_t> out;
    if (const json* v = member(obj, key)) {
      if (!v->is_array())
        throw_input_error(path + ": key " + key + " must be a list of integers, found " +
                          v->dump());
      for (const auto& x : *v) {
        if (!x.is_number_integer())
          throw_input_error(path + ": key " + key + " must be a list of integers, found " +
                            v->dump());
        out.push_back(x.get<std::int64_t>());
      }
    }
    return out;
  }
};

// ---- MoE blocks and their expert layouts (io/expert_layouts.cpp) -----------------------------

// The MoE block shapes RouterScope knows. Every tensor name of a block is relative to
// "<layers prefix>L." (for example "model.layers.3.").
enum class Block { GptOss, JetMoe, Granite, Dbrx, Llama4, SparseMoe, MlpGate };

struct ExpertForm {
  std::string layout; // per_expert | stacked | fused
  MatrixSource gate, up, down;
  BiasSource gate_bias, up_bias, down_bias;
};

struct Planner;

// One layer's experts to plan: `base` is "<layers prefix>L.", E and D are known; `d_expert` is
// derived from the shapes when unknown and set.
struct ExpertQuery {
  const Planner& p;
  const std::string& base;
  int layer;
  std::int64_t E, D;
  std::optional<std::int64_t>& d_expert;
};

struct BlockRow {
  Block kind;
  const char* router;      // router Linear [E, D]; its presence identifies the block
  const char* norm;        // pre-MoE norm weight [D] (a bias beside it: the same name, ".bias")
  const char* router_bias; // [E] (added to logits, or the selection bias), or null
  const char* output_bias; // [D] added to the block's output, or null
  // Shared-expert MLP prefixes, tried in order ("gate_proj.weight" ... below them), or null.
  std::array<const char*, 2> shared;
  const char* shared_gate; // [1, D] sigmoid gate of the shared expert, or null
  // The family a checkpoint without a known model_type is read as; null: told by its tensors.
  const char* family;
  // Builds the expert sources of one layer and validates every shape against E, D, d.
  ExpertForm (*experts)(const ExpertQuery&);
};

// Every block, in the order routers are looked for (the first router found decides).
std::span<const BlockRow> block_rows();
const BlockRow& block_row(Block kind);

// ---- families (io/families.cpp) ------------------------------------------------------------

// A config key with its alternatives, first present wins (null entries are unused), read in the
// family's scope or, with `root`, in the whole config.json.
struct Key {
  std::array<const char*, 2> names{};
  bool root = false;
};

// One checkpoint family: a config.json model_type and everything that differs between families.
struct FamilyRow {
  const char* name; // model_type
  Block block;      // its MoE block (when no layer's router shows one)
  // Decoder layers prefix; when absent from the names, the first prefix containing `layers_hint`.
  const char* layers = "model.layers.";
  const char* layers_hint = nullptr;
  // Where the family's keys live: the member `scope` of config.json (null when absent unless
  // `scope_optional`, then the whole config), or the whole config when `scope` is null.
  const char* scope = nullptr;
  bool scope_optional = false;
  Key experts{{"num_local_experts"}};
  Key top_k{{"num_experts_per_tok", "experts_per_token"}};
  Key d_expert{{"intermediate_size"}};
  Key d_model{{"hidden_size"}};
  Key layer_count{{"num_hidden_layers"}};
  std::optional<std::int64_t> default_top_k = std::nullopt;
  // Which decoder layers the config makes MoE.
  bool (*moe_layer)(const Config&, int layer) = nullptr; // null: every layer
  // The routing rule (scores, selection, weights) from the family and its config keys.
  RoutingRule (*routing)(const Config&) = nullptr;
  // The expert activation's name (default: hidden_act, else activation_function, else silu).
  std::string (*activation)(const Config&) = nullptr;
  bool clamped_swiglu = false;   // gpt-oss: clamped SwiGLU (swiglu_limit, swiglu_alpha)
  NormKind norm = NormKind::Rms; // the pre-MoE norm
  double norm_eps = 1e-6;
  const char* norm_eps_key = "rms_norm_eps"; // null: the family's eps is fixed
  // Width of a single shared expert when the config gives it (null: from the tensor).
  const char* shared_width_key = "shared_expert_intermediate_size";
};

// Every family RouterScope reads.
std::span<const FamilyRow> family_rows();
// The row of `model_type`, or null for a family RouterScope does not know.
const FamilyRow* find_family(std::string_view model_type);

struct FamilyDims {
  std::optional<std::int64_t> experts, top_k, d_expert, d_model, layers;
};

FamilyDims family_dims(const Config& c, const FamilyRow& f);
bool configured_moe(const Config& c, const FamilyRow& f, int layer);
// The family's rule, checked (1 <= topk_group <= n_group).
RoutingRule routing_rule(const Config& c, const FamilyRow& f);
std::string activation(const Config& c, const FamilyRow& f);
// A family for a checkpoint whose config names none, from the tensors of its first MoE layer.
std::string guess_family(const Planner& p, Block kind, const std::string& base,
                         const ExpertForm& form);

struct Planner {
  const TensorStore& store;
  std::string opened;
  Config cfg;
  std::string family;             // from config (known) or guessed
  const FamilyRow* row = nullptr; // its row (null until a family is known)
  bool family_from_config = false;
  FamilyDims dims;

  std::string where() const { return opened; }

  bool has(const std::string& name) const { return has_logical_tensor(store, name); }

  std::vector<std::int64_t> shape_of(const std::string& name, int layer) const {
    if (!has(name))
      throw_input_error(where() + ": layer " + std::to_string(layer) + ": expected tensor " + name +
                        " (family " + family + ") is missing");
    return logical_shape(store, name);
  }

  void expect(const std::string& name, const std::vector<std::int64_t>& expected,
              const std::string& why, int layer) const {
    auto found = shape_of(name, layer);
    if (found != expected)
      throw_input_error(where() + ": tensor " + name + ": expected shape " + shape_text(expected) +
                        " (" + why + "), found " + shape_text(found));
  }
};

std::int64_t half(const std::vector<std::int64_t>& s, size_t axis, const std::string& name,
                  const std::string& where);
void require_rank(const std::vector<std::int64_t>& s, size_t rank, const std::string& name,
                  const std::string& where);

} // namespace routerscope::io::layout
