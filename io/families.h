#pragma once
// Inside the layout rules (io only): config access, the MoE block shapes with their expert
// layouts, and the checkpoint families. `plan_checkpoint` (io/layout_rules.h) is the entry point.
#include "core/error.h"
#include "core/model.h"
#include "io/layout_rules.h"
#include "io/safetensors.h"
#include "io/tensor_decode.h"

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace routerscope::io::layout {

using nlohmann::json;

// The MoE block shapes RouterScope knows, identified by their router tensor (suffix after
// "<layers prefix>L.").
enum class Block { GptOss, JetMoe, Granite, Dbrx, Llama4, SparseMoe, MlpGate };

struct BlockRule {
  Block kind;
  const char* router;
};
extern const BlockRule kBlockRules[7];

const char* router_suffix(Block kind);
const std::set<std::string>& known_families();
Block family_block(const std::string& family);
std::string family_prefix(const std::string& family);
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
    // Every integer key is a count or a size: negative is bad input, never "absent".
    for (const char* k : keys)
      if (const json* v = member(obj, k)) {
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

struct FamilyDims {
  std::optional<std::int64_t> experts, top_k, d_expert, d_model, layers;
};

FamilyDims family_dims(const Config& c, const std::string& family);
// Which decoder layers the family's config makes MoE.
bool configured_moe(const Config& c, const std::string& family, int layer);
RoutingRule routing_rule(const Config& c, const std::string& family);
std::string activation(const Config& c, const std::string& family);

struct Planner {
  const TensorStore& store;
  std::string opened;
  Config cfg;
  std::string family; // from config (known) or guessed
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

struct ExpertForm {
  std::string layout; // per_expert | stacked | fused
  MatrixSource gate, up, down;
  BiasSource gate_bias, up_bias, down_bias;
};

// Builds the expert sources of one layer, deriving d from the shapes when `d_expert` is unknown,
// and validates every shape against E, D, d.
ExpertForm plan_experts(const Planner& p, Block kind, const std::string& base, int layer,
                        std::int64_t E, std::int64_t D, std::optional<std::int64_t>& d_expert);
std::string guess_family(const Planner& p, Block kind, const std::string& base,
                         const ExpertForm& form);

} // namespace routerscope::io::layout
