#include "io/layout_rules.h"

#include "core/error.h"
#include "io/tensor_decode.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace routerscope::io {

using nlohmann::json;

std::string MatrixSource::tensor_name(int expert) const {
  std::string out = name;
  auto pos = out.find("{e}");
  if (pos != std::string::npos)
    out.replace(pos, 3, std::to_string(expert));
  return out;
}

namespace {

// The MoE block shapes RouterScope knows, identified by their router tensor (suffix after
// "<layers prefix>L.").
enum class Block { GptOss, JetMoe, Granite, Dbrx, Llama4, SparseMoe, MlpGate };

struct BlockRule {
  Block kind;
  const char* router;
};

constexpr BlockRule kBlockRules[] = {
    {Block::GptOss, "mlp.router.weight"},
    {Block::JetMoe, "mlp.router.layer.weight"},
    {Block::Granite, "block_sparse_moe.router.layer.weight"},
    {Block::Dbrx, "ffn.router.layer.weight"},
    {Block::Llama4, "feed_forward.router.weight"},
    {Block::SparseMoe, "block_sparse_moe.gate.weight"},
    {Block::MlpGate, "mlp.gate.weight"},
};

const char* router_suffix(Block kind) {
  for (const auto& r : kBlockRules)
    if (r.kind == kind)
      return r.router;
  return "";
}

const std::set<std::string>& known_families() {
  static const std::set<std::string> f = {"mixtral",     "olmoe",       "qwen2_moe", "qwen3_moe",
                                          "deepseek_v2", "deepseek_v3", "gpt_oss",   "phimoe",
                                          "granitemoe",  "jetmoe",      "dbrx",      "llama4"};
  return f;
}

Block family_block(const std::string& family) {
  if (family == "mixtral" || family == "phimoe")
    return Block::SparseMoe;
  if (family == "gpt_oss")
    return Block::GptOss;
  if (family == "granitemoe")
    return Block::Granite;
  if (family == "jetmoe")
    return Block::JetMoe;
  if (family == "dbrx")
    return Block::Dbrx;
  if (family == "llama4")
    return Block::Llama4;
  return Block::MlpGate;
}

std::string family_prefix(const std::string& family) {
  if (family == "dbrx")
    return "transformer.blocks.";
  if (family == "llama4")
    return "language_model.model.layers.";
  return "model.layers.";
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i)
    o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

// ---- config access --------------------------------------------------------------------------

const json* member(const json* obj, const char* key) {
  if (!obj || !obj->is_object())
    return nullptr;
  auto it = obj->find(key);
  if (it == obj->end() || it->is_null())
    return nullptr;
  return &*it;
}

// A config value for a message: scalars as JSON, arrays and objects by kind (printing a deeply
// nested value would recurse without bound).
std::string shown(const json& v) {
  return v.is_structured() ? "an " + std::string(v.type_name()) : v.dump();
}

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

FamilyDims family_dims(const Config& c, const std::string& family) {
  FamilyDims d;
  const json* s = c.scope;
  if (family == "dbrx") {
    d.experts = c.integer(s, {"moe_num_experts"});
    d.top_k = c.integer(s, {"moe_top_k"});
    d.d_expert = c.integer(s, {"ffn_hidden_size"});
    d.d_model = c.integer(c.root, {"d_model"});
    d.layers = c.integer(c.root, {"n_layers"});
    return d;
  }
  if (!s)
    return d;
  d.d_model = c.integer(s, {"hidden_size"});
  d.layers = c.integer(s, {"num_hidden_layers"});
  d.top_k = c.integer(s, {"num_experts_per_tok", "experts_per_token"});
  if (family == "olmoe" || family == "qwen2_moe" || family == "qwen3_moe")
    d.experts = c.integer(s, {"num_experts"});
  else if (family == "deepseek_v2" || family == "deepseek_v3")
    d.experts = c.integer(s, {"n_routed_experts"});
  else
    d.experts = c.integer(s, {"num_local_experts"});
  if (family == "qwen2_moe" || family == "qwen3_moe" || family == "deepseek_v2" ||
      family == "deepseek_v3")
    d.d_expert = c.integer(s, {"moe_intermediate_size"});
  else
    d.d_expert = c.integer(s, {"intermediate_size"});
  if (family == "phimoe" && !d.top_k)
    d.top_k = 2;
  return d;
}

// Which decoder layers the family's config makes MoE.
bool configured_moe(const Config& c, const std::string& family, int layer) {
  const json* s = c.scope;
  if (family == "qwen2_moe" || family == "qwen3_moe") {
    auto only = c.int_list(s, "mlp_only_layers");
    if (std::find(only.begin(), only.end(), layer) != only.end())
      return false;
    std::int64_t step = c.integer(s, {"decoder_sparse_step"}).value_or(1);
    if (step <= 0)
      throw_input_error(c.path + ": key decoder_sparse_step must be positive, found " +
                        std::to_string(step));
    if (c.integer(s, {"num_experts"}).value_or(1) <= 0)
      return false;
    return (layer + 1) % step == 0;
  }
  if (family == "deepseek_v2" || family == "deepseek_v3") {
    // DeepseekV3Config defaults first_k_dense_replace to 3, DeepseekV2Config to 0.
    std::int64_t first =
        c.integer(s, {"first_k_dense_replace"}).value_or(family == "deepseek_v3" ? 3 : 0);
    std::int64_t freq = c.integer(s, {"moe_layer_freq"}).value_or(1);
    if (freq <= 0)
      throw_input_error(c.path + ": key moe_layer_freq must be positive, found " +
                        std::to_string(freq));
    return layer >= first && layer % freq == 0;
  }
  if (family == "llama4") {
    if (member(s, "moe_layers")) {
      auto list = c.int_list(s, "moe_layers");
      return std::find(list.begin(), list.end(), layer) != list.end();
    }
    std::int64_t step = c.integer(s, {"interleave_moe_layer_step"}).value_or(1);
    if (step <= 0)
      throw_input_error(c.path + ": key interleave_moe_layer_step must be positive, found " +
                        std::to_string(step));
    return (layer + 1) % step == 0;
  }
  return true;
}

RoutingRule routing_rule(const Config& c, const std::string& family) {
  const json* s = c.scope;
  RoutingRule r;
  if (family == "mixtral") {
    r.renormalize = true;
  } else if (family == "phimoe") {
    // PhimoeSparseMoeBlock passes router_jitter_noise (PhimoeConfig default 0.01) to sparsemixer
    // as jitter_eps, the relative distance from the best logit beyond which experts are masked.
    r.sparsemixer = true;
    r.jitter_eps = c.number(s, "router_jitter_noise").value_or(0.01);
    if (!(r.jitter_eps >= 0) || !std::isfinite(r.jitter_eps))
      throw_input_error(c.path + ": key router_jitter_noise must be a finite number >= 0, found " +
                        std::to_string(r.jitter_eps));
  } else if (family == "olmoe" || family == "qwen2_moe" || family == "qwen3_moe") {
    r.renormalize = c.boolean(s, "norm_topk_prob").value_or(false);
  } else if (family == "deepseek_v2") {
    // DeepseekV2Moe.route_tokens_to_experts never renormalises (norm_topk_prob is unused); it
    // only scales by routed_scaling_factor. DeepseekV2Config's topk_method default is "greedy".
    r.scaling = c.number(s, "routed_scaling_factor").value_or(1.0);
    auto method = c.text(s, "topk_method").value_or("greedy");
    if (method == "group_limited_greedy") {
      r.n_group = static_cast<int>(c.integer(s, {"n_group"}).value_or(1));
      r.topk_group = static_cast<int>(c.integer(s, {"topk_group"}).value_or(r.n_group));
    } else if (method != "greedy") {
      throw_input_error(c.path + ": key topk_method: expected greedy or group_limited_greedy for " +
                        "deepseek_v2, found " + method);
    }
  } else if (family == "deepseek_v3") {
    // Missing keys take DeepseekV3Config's defaults (n_group 8, topk_group 4).
    r.scoring = c.text(s, "scoring_func").value_or("sigmoid") == "softmax" ? Scoring::Softmax
                                                                           : Scoring::Sigmoid;
    r.selection_bias = true;
    r.renormalize = c.boolean(s, "norm_topk_prob").value_or(true);
    r.scaling = c.number(s, "routed_scaling_factor").value_or(2.5);
    r.n_group = static_cast<int>(c.integer(s, {"n_group"}).value_or(8));
    r.topk_group = static_cast<int>(c.integer(s, {"topk_group"}).value_or(4));
  } else if (family == "gpt_oss") {
    r.order = GateOrder::TopkSoftmax;
    r.logit_bias = true;
  } else if (family == "granitemoe" || family == "jetmoe") {
    r.order = GateOrder::TopkSoftmax;
  } else if (family == "dbrx") {
    // moe_normalize_expert_weights = p of the p-norm renormalisation (DbrxRouter: top_weights /
    // torch.norm(top_weights, p)); null turns it off, absent = DbrxFFNConfig's default 1.
    const bool present = s && s->is_object() && s->contains("moe_normalize_expert_weights");
    r.renormalize = !present || !(*s)["moe_normalize_expert_weights"].is_null();
    if (r.renormalize) {
      r.renorm_p = c.number(s, "moe_normalize_expert_weights").value_or(1.0);
      if (!(r.renorm_p > 0))
        throw_input_error(c.path + ": key ffn_config.moe_normalize_expert_weights must be a " +
                          "positive p (or null), found " + std::to_string(r.renorm_p));
    }
  } else if (family == "llama4") {
    r.scoring = Scoring::Sigmoid;
    r.order = GateOrder::TopkSoftmax;
    r.sigmoid_input_scale = true;
  }
  if (r.n_group < 1 || r.topk_group < 1 || r.topk_group > r.n_group)
    throw_input_error(c.path + ": n_group " + std::to_string(r.n_group) + " and topk_group " +
                      std::to_string(r.topk_group) + " must satisfy 1 <= topk_group <= n_group");
  return r;
}

std::string activation(const Config& c, const std::string& family) {
  if (family == "dbrx") {
    if (const json* f = member(c.scope, "ffn_act_fn"))
      if (auto n = c.text(f, "name"))
        return *n;
    return "silu";
  }
  if (auto a = c.text(c.scope, "hidden_act"))
    return *a;
  if (auto a = c.text(c.scope, "activation_function"))
    return *a;
  return "silu";
}

// ---- tensor names ---------------------------------------------------------------------------

// Splits "<prefix>layers.<L>.<rest>" (or blocks.<L>.) at its first layer component.
bool split_layer_name(const std::string& name, std::string& prefix, int& layer) {
  for (const char* word : {"layers.", "blocks."}) {
    size_t wl = std::char_traits<char>::length(word);
    size_t pos = 0;
    while ((pos = name.find(word, pos)) != std::string::npos) {
      if (pos == 0 || name[pos - 1] == '.') {
        size_t d = pos + wl, e = d;
        while (e < name.size() && std::isdigit(static_cast<unsigned char>(name[e])))
          ++e;
        if (e > d && e < name.size() && name[e] == '.' && e - d < 9) {
          prefix = name.substr(0, d);
          layer = std::stoi(name.substr(d, e - d));
          return true;
        }
      }
      pos += wl;
    }
  }
  return false;
}

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
                  const std::string& where) {
  if (s.size() <= axis || s[axis] % 2 != 0 || s[axis] <= 0)
    throw_input_error(where + ": tensor " + name + " has shape " + shape_text(s) +
                      ": expected an even fused gate/up axis " + std::to_string(axis));
  return s[axis] / 2;
}

void require_rank(const std::vector<std::int64_t>& s, size_t rank, const std::string& name,
                  const std::string& where) {
  if (s.size() != rank)
    throw_input_error(where + ": tensor " + name + ": expected " + std::to_string(rank) +
                      "-D, found shape " + shape_text(s));
}

struct ExpertForm {
  std::string layout; // per_expert | stacked | fused
  MatrixSource gate, up, down;
  BiasSource gate_bias, up_bias, down_bias;
};

// Builds the expert sources of one layer, deriving d from the shapes when `d_expert` is unknown,
// and validates every shape against E, D, d.
ExpertForm plan_experts(const Planner& p, Block kind, const std::string& base, int layer,
                        std::int64_t E, std::int64_t D, std::optional<std::int64_t>& d_expert) {
  ExpertForm f;
  const std::string& w = p.opened;
  using Index = MatrixSource::Index;
  auto lead = [](std::string name, bool input_major, std::int64_t begin, std::int64_t count,
                 std::int64_t step) {
    MatrixSource s;
    s.name = std::move(name);
    s.index = Index::Lead;
    s.input_major = input_major;
    s.begin = begin;
    s.count = count;
    s.step = step;
    return s;
  };
  std::string why_prefix = "E=" + std::to_string(E) + " experts, D=" + std::to_string(D);
  auto why = [&](std::int64_t I) { return why_prefix + ", d=" + std::to_string(I); };
  // Stacked output-major experts: gate_up [E, 2d, D] (gate rows first), down [E, D, d].
  auto output_major_pair = [&](const std::string& gu, const std::string& dn) -> ExpertForm& {
    auto s = p.shape_of(gu, layer);
    require_rank(s, 3, gu, w);
    std::int64_t I = d_expert.value_or(half(s, 1, gu, w));
    p.expect(gu, {E, 2 * I, D}, why(I), layer);
    p.expect(dn, {E, D, I}, why(I), layer);
    f.gate = lead(gu, false, 0, I, 1);
    f.up = lead(gu, false, I, I, 1);
    f.down = lead(dn, false, 0, D, 1);
    d_expert = I;
    return f;
  };

  if (kind == Block::MlpGate || kind == Block::SparseMoe) {
    std::string P = base + (kind == Block::MlpGate ? "mlp." : "block_sparse_moe.");
    if (p.has(P + "experts.gate_up_proj")) {
      f.layout = "stacked";
      return output_major_pair(P + "experts.gate_up_proj", P + "experts.down_proj");
    }
    const char* names[3] = {nullptr, nullptr, nullptr};
    if (p.has(P + "experts.0.gate_proj.weight")) {
      names[0] = "gate_proj", names[1] = "up_proj", names[2] = "down_proj";
    } else if (p.has(P + "experts.0.w1.weight")) {
      names[0] = "w1", names[1] = "w3", names[2] = "w2";
    } else {
      throw_input_error(w + ": layer " + std::to_string(layer) + ": router " + P +
                        "gate.weight found but no experts (expected " + P +
                        "experts.0.gate_proj.weight, " + P + "experts.0.w1.weight or " + P +
                        "experts.gate_up_proj)");
    }
    f.layout = "per_expert";
    auto per = [&](const char* n) {
      MatrixSource s;
      s.name = P + "experts.{e}." + n + ".weight";
      s.index = Index::PerExpert;
      return s;
    };
    f.gate = per(names[0]);
    f.up = per(names[1]);
    f.down = per(names[2]);
    auto s0 = p.shape_of(f.gate.tensor_name(0), layer);
    require_rank(s0, 2, f.gate.tensor_name(0), w);
    std::int64_t I = d_expert.value_or(s0[0]);
    for (int e = 0; e < E; ++e) {
      p.expect(f.gate.tensor_name(e), {I, D}, why(I), layer);
      p.expect(f.up.tensor_name(e), {I, D}, why(I), layer);
      p.expect(f.down.tensor_name(e), {D, I}, why(I), layer);
    }
    f.gate.count = f.up.count = I;
    f.down.count = D;
    d_expert = I;
    return f;
  }

  f.layout = "fused";
  if (kind == Block::GptOss) {
    std::string P = base + "mlp.experts.";
    std::string gu = P + "gate_up_proj", dn = P + "down_proj";
    // MXFP4 pairs dequantise to the output-major [E, 2I, D] / [E, D, I]; plain tensors are the
    // input-major parameters [E, D, 2I] / [E, I, D]. Each tensor is judged on its own.
    bool gu_mx = !p.store.contains(gu) && p.has(gu);
    bool dn_mx = !p.store.contains(dn) && p.has(dn);
    auto s = p.shape_of(gu, layer);
    require_rank(s, 3, gu, w);
    std::int64_t I = d_expert.value_or(half(s, gu_mx ? 1 : 2, gu, w));
    if (gu_mx)
      p.expect(gu, {E, 2 * I, D}, why(I) + ", MXFP4 output-major", layer);
    else
      p.expect(gu, {E, D, 2 * I}, why(I) + ", input-major", layer);
    if (dn_mx)
      p.expect(dn, {E, D, I}, why(I) + ", MXFP4 output-major", layer);
    else
      p.expect(dn, {E, I, D}, why(I) + ", input-major", layer);
    f.gate = lead(gu, !gu_mx, 0, I, 2);
    f.up = lead(gu, !gu_mx, 1, I, 2);
    f.down = lead(dn, !dn_mx, 0, D, 1);
    if (p.has(P + "gate_up_proj_bias")) {
      p.expect(P + "gate_up_proj_bias", {E, 2 * I}, why(I), layer);
      f.gate_bias = {P + "gate_up_proj_bias", 0, I, 2};
      f.up_bias = {P + "gate_up_proj_bias", 1, I, 2};
    }
    if (p.has(P + "down_proj_bias")) {
      p.expect(P + "down_proj_bias", {E, D}, why(I), layer);
      f.down_bias = {P + "down_proj_bias", 0, D, 1};
    }
    d_expert = I;
    return f;
  }
  if (kind == Block::Granite || kind == Block::JetMoe) {
    std::string P = base + (kind == Block::Granite ? "block_sparse_moe." : "mlp.");
    return output_major_pair(P + "input_linear.weight", P + "output_linear.weight");
  }
  if (kind == Block::Llama4) {
    std::string P = base + "feed_forward.experts.";
    std::string gu = P + "gate_up_proj", dn = P + "down_proj";
    auto s = p.shape_of(gu, layer);
    require_rank(s, 3, gu, w);
    std::int64_t I = d_expert.value_or(half(s, 2, gu, w));
    p.expect(gu, {E, D, 2 * I}, why(I) + ", input-major", layer);
    p.expect(dn, {E, I, D}, why(I) + ", input-major", layer);
    f.gate = lead(gu, true, 0, I, 1);
    f.up = lead(gu, true, I, I, 1);
    f.down = lead(dn, true, 0, D, 1);
    d_expert = I;
    return f;
  }
  // DBRX: w1 (gate), v1 (up), w2 each [E·I, D]; w2[e] is applied as h @ w2[e] (input-major).
  std::string P = base + "ffn.experts.mlp.";
  auto s = p.shape_of(P + "w1", layer);
  require_rank(s, 2, P + "w1", w);
  if (!d_expert && (E <= 0 || s[0] % E != 0))
    throw_input_error(w + ": tensor " + P + "w1 has shape " + shape_text(s) +
                      ": its rows must be a multiple of E=" + std::to_string(E));
  std::int64_t I = d_expert.value_or(s[0] / E);
  for (const char* n : {"w1", "v1", "w2"})
    p.expect(P + n, {E * I, D}, why(I) + ", rows e*d..(e+1)*d per expert", layer);
  auto block = [&](const char* n, bool input_major, std::int64_t count) {
    MatrixSource m;
    m.name = P + n;
    m.index = Index::RowBlock;
    m.block = I;
    m.input_major = input_major;
    m.count = count;
    return m;
  };
  f.gate = block("w1", false, I);
  f.up = block("v1", false, I);
  f.down = block("w2", true, D);
  d_expert = I;
  return f;
}

std::string guess_family(const Planner& p, Block kind, const std::string& base,
                         const ExpertForm& form) {
  switch (kind) {
  case Block::GptOss:
    return "gpt_oss";
  case Block::JetMoe:
    return "jetmoe";
  case Block::Granite:
    return "granitemoe";
  case Block::Dbrx:
    return "dbrx";
  case Block::Llama4:
    return "llama4";
  case Block::SparseMoe:
    return "mixtral";
  case Block::MlpGate:
    break;
  }
  if (p.has(base + "mlp.shared_experts.gate_proj.weight"))
    return p.has(base + "mlp.gate.e_score_correction_bias") ? "deepseek_v3" : "deepseek_v2";
  if (p.has(base + "mlp.shared_expert.gate_proj.weight"))
    return "qwen2_moe";
  if (form.gate.name.find(".w1.") != std::string::npos)
    return "mixtral";
  return "olmoe";
}

} // namespace

CheckpointPlan plan_checkpoint(const TensorStore& store, const json* config,
                               const std::string& config_path, const std::string& opened) {
  Planner p{store, opened, {}, {}, false, {}};
  p.cfg.path = config_path;
  std::string model_type;
  if (config) {
    if (!config->is_object())
      throw_input_error(config_path + ": expected a JSON object");
    model_type = p.cfg.text(config, "model_type").value_or("");
    if (known_families().count(model_type)) {
      p.family = model_type;
      p.family_from_config = true;
      p.cfg.root = config;
      p.cfg.scope = config;
      if (model_type == "llama4" && member(config, "text_config"))
        p.cfg.scope = member(config, "text_config");
      if (model_type == "dbrx")
        p.cfg.scope = member(config, "ffn_config");
      p.dims = family_dims(p.cfg, p.family);
    }
  }

  // Layer prefixes found in the names, with their layer indices.
  std::map<std::string, std::set<int>> prefixes;
  for (const auto& name : store.names()) {
    std::string prefix;
    int layer = 0;
    if (split_layer_name(name, prefix, layer))
      prefixes[prefix].insert(layer);
  }
  // The block kind and router tensor suffix of a layer. A configured model_type decides the
  // family: a router stored under another family's name (some Qwen3-MoE checkpoints keep theirs as
  // mlp.router.weight, gpt-oss's name) is read with the configured family's block.
  auto router_hit = [&](const std::string& prefix,
                        int layer) -> std::optional<std::pair<Block, std::string>> {
    std::string base = prefix + std::to_string(layer) + ".";
    for (const auto& r : kBlockRules)
      if (store.contains(base + r.router)) {
        Block kind = r.kind;
        if (kind == Block::GptOss && p.family_from_config &&
            family_block(p.family) == Block::MlpGate)
          kind = Block::MlpGate;
        return std::pair{kind, std::string(r.router)};
      }
    return std::nullopt;
  };
  auto router_at = [&](const std::string& prefix, int layer) -> std::optional<Block> {
    auto hit = router_hit(prefix, layer);
    return hit ? std::optional<Block>(hit->first) : std::nullopt;
  };
  std::string prefix;
  for (const char* preferred : {"model.layers.", "language_model.model.layers.",
                                "model.language_model.layers.", "transformer.blocks."}) {
    auto it = prefixes.find(preferred);
    if (it == prefixes.end())
      continue;
    for (int l : it->second)
      if (router_at(it->first, l)) {
        prefix = preferred;
        break;
      }
    if (!prefix.empty())
      break;
  }
  if (prefix.empty())
    for (const auto& [pre, layers] : prefixes) {
      for (int l : layers)
        if (router_at(pre, l)) {
          prefix = pre;
          break;
        }
      if (!prefix.empty())
        break;
    }
  std::string shown_family =
      p.family.empty() ? (model_type.empty() ? "unknown" : model_type) : p.family;
  if (prefix.empty()) {
    if (!p.family_from_config)
      throw_input_error("no MoE layer found in " + opened + " (family " + shown_family + ")");
    prefix = family_prefix(p.family);
    if (!prefixes.count(prefix) && !prefixes.empty() && p.family == "llama4") {
      for (const auto& [pre, layers] : prefixes)
        if (pre.find("language_model") != std::string::npos)
          prefix = pre;
    }
  }

  // Decoder layers: 0 .. num_hidden_layers-1 (higher indices, e.g. DeepSeek-V3's MTP module, are
  // not decoder layers); without the key, every index the names show.
  int n_layers = 0;
  if (p.dims.layers) {
    n_layers = static_cast<int>(*p.dims.layers);
  } else if (config) {
    if (auto n = p.cfg.integer(config, {"num_hidden_layers"}))
      n_layers = static_cast<int>(*n);
  }
  if (n_layers <= 0 && prefixes.count(prefix))
    n_layers = *prefixes[prefix].rbegin() + 1;

  // The block kind: the first layer with a router shows it; otherwise the family's default.
  std::optional<Block> model_block;
  for (int l = 0; l < n_layers && !model_block; ++l)
    model_block = router_at(prefix, l);
  if (!model_block && p.family_from_config)
    model_block = family_block(p.family);

  CheckpointPlan plan;
  ModelInfo& info = plan.info;
  info.path = opened;
  info.has_config = config != nullptr;
  info.bytes_on_disk = store.bytes_on_disk();
  std::set<std::string> dtypes;
  std::optional<std::int64_t> D = p.dims.d_model;
  std::string layout;
  bool any_moe = false;

  for (int l = 0; l < n_layers; ++l) {
    LayerPlan lp;
    lp.layer = l;
    LayerInfo li;
    li.layer = l;
    std::string base = prefix + std::to_string(l) + ".";
    auto kind = router_at(prefix, l);
    bool moe = p.family_from_config ? configured_moe(p.cfg, p.family, l) : kind.has_value();
    if (moe && !kind)
      throw_input_error(opened + ": layer " + std::to_string(l) + " is an MoE layer (family " +
                        p.family + ") but its router tensor " + base + router_suffix(*model_block) +
                        " is missing");
    std::string norm = base + (kind == Block::Dbrx || (!kind && model_block == Block::Dbrx)
                                   ? "norm_attn_norm.norm_2.weight"
                                   : "post_attention_layernorm.weight");
    if (store.contains(norm))
      lp.norm = norm;
    // PhiMoE's post_attention_layernorm is a LayerNorm with a bias (DBRX's norm_2 has none).
    const std::string norm_bias =
        norm.substr(0, norm.size() - std::string("weight").size()) + "bias";
    if (store.contains(norm_bias))
      lp.norm_bias = norm_bias;
    if (!moe) {
      plan.layers[l] = lp;
      info.layers.push_back(li);
      continue;
    }
    any_moe = true;
    lp.moe = li.moe = true;
    lp.router = base + router_hit(prefix, l)->second;
    auto rs = p.shape_of(lp.router, l);
    require_rank(rs, 2, lp.router, opened);
    std::int64_t E = p.dims.experts.value_or(rs[0]);
    if (!D)
      D = rs[1];
    std::string why = "E=" + std::to_string(E) + " experts, D=" + std::to_string(*D);
    p.expect(lp.router, {E, *D}, why, l);
    dtypes.insert(logical_dtype(store, lp.router));

    std::optional<std::int64_t> d_expert = p.dims.d_expert;
    ExpertForm form = plan_experts(p, *kind, base, l, E, *D, d_expert);
    if (layout.empty())
      layout = form.layout;
    if (!p.family_from_config && p.family.empty())
      p.family = guess_family(p, *kind, base, form);
    lp.gate = form.gate;
    lp.up = form.up;
    lp.down = form.down;
    lp.gate_bias = form.gate_bias;
    lp.up_bias = form.up_bias;
    lp.down_bias = form.down_bias;
    for (const MatrixSource* m : {&lp.gate, &lp.up, &lp.down}) {
      int count = m->index == MatrixSource::Index::PerExpert ? static_cast<int>(E) : 1;
      for (int e = 0; e < count; ++e)
        dtypes.insert(logical_dtype(store, m->tensor_name(e)));
    }

    // JetMoE adds one bias [D] to the whole block output (JetMoeMoE.forward: + self.bias).
    if (*kind == Block::JetMoe && p.has(base + "mlp.bias")) {
      p.expect(base + "mlp.bias", {*D}, "D=" + std::to_string(*D), l);
      lp.output_bias = base + "mlp.bias";
    }

    // Router bias: gpt-oss router.bias (added to logits), DeepSeek-V3 score correction bias.
    std::string rb;
    if (*kind == Block::GptOss)
      rb = base + "mlp.router.bias";
    else if (*kind == Block::MlpGate)
      rb = base + "mlp.gate.e_score_correction_bias";
    if (!rb.empty() && p.has(rb)) {
      p.expect(rb, {E}, why, l);
      lp.router_bias = rb;
    }

    // Shared expert(s).
    std::string shared;
    if (*kind == Block::MlpGate) {
      if (p.has(base + "mlp.shared_experts.gate_proj.weight"))
        shared = base + "mlp.shared_experts.";
      else if (p.has(base + "mlp.shared_expert.gate_proj.weight"))
        shared = base + "mlp.shared_expert.";
    } else if (*kind == Block::Llama4 &&
               p.has(base + "feed_forward.shared_expert.gate_proj.weight")) {
      shared = base + "feed_forward.shared_expert.";
    }
    if (!shared.empty()) {
      lp.shared_gate_proj = shared + "gate_proj.weight";
      lp.shared_up_proj = shared + "up_proj.weight";
      lp.shared_down_proj = shared + "down_proj.weight";
      auto ss = p.shape_of(lp.shared_gate_proj, l);
      require_rank(ss, 2, lp.shared_gate_proj, opened);
      std::int64_t Is = ss[0];
      std::int64_t n_shared = 1;
      if (shared.ends_with("shared_experts.")) {
        // DeepSeek: one MLP of width d·n_shared_experts; without the key, n from the width.
        auto cfg_n = p.cfg.integer(p.cfg.scope, {"n_shared_experts"});
        if (cfg_n && *cfg_n > 0) {
          n_shared = *cfg_n;
          Is = *cfg_n * *d_expert;
        } else if (Is % *d_expert == 0 && Is >= *d_expert) {
          n_shared = Is / *d_expert;
        }
      } else if (auto cfg_is = p.cfg.integer(p.cfg.scope, {"shared_expert_intermediate_size"})) {
        if (p.family != "llama4")
          Is = *cfg_is;
      }
      std::string swhy = "D=" + std::to_string(*D) + ", shared width " + std::to_string(Is);
      p.expect(lp.shared_gate_proj, {Is, *D}, swhy, l);
      p.expect(lp.shared_up_proj, {Is, *D}, swhy, l);
      p.expect(lp.shared_down_proj, {*D, Is}, swhy, l);
      li.shared_experts = static_cast<int>(n_shared);
      li.d_shared = static_cast<int>(Is);
      std::string sg = base + "mlp.shared_expert_gate.weight";
      if (*kind == Block::MlpGate && p.has(sg)) {
        p.expect(sg, {1, *D}, "D=" + std::to_string(*D), l);
        lp.shared_gate = sg;
        li.shared_gate = true;
      }
    }

    li.experts = static_cast<int>(E);
    li.d_expert = static_cast<int>(*d_expert);
    if (p.dims.top_k)
      li.top_k = static_cast<int>(*p.dims.top_k);
    else if (config)
      if (auto k = p.cfg.integer(config, {"num_experts_per_tok"}))
        li.top_k = static_cast<int>(*k);
    if (li.top_k && (*li.top_k < 1 || *li.top_k > li.experts))
      throw_input_error(config_path + ": top-k " + std::to_string(*li.top_k) +
                        " must be between 1 and the " + std::to_string(li.experts) +
                        " experts of layer " + std::to_string(l));
    plan.layers[l] = lp;
    info.layers.push_back(li);
  }
  if (!any_moe)
    throw_input_error("no MoE layer found in " + opened + " (family " + shown_family + ")");

  info.family = p.family;
  info.layout = layout;
  info.d_model = static_cast<int>(*D);
  info.dtypes.assign(dtypes.begin(), dtypes.end());
  Config routing_cfg = p.cfg;
  if (!p.family_from_config && config) {
    // Unknown model_type: its keys may still carry the routing switches of the guessed family.
    routing_cfg.root = routing_cfg.scope = config;
  }
  info.routing = routing_rule(routing_cfg, p.family);
  info.activation = activation(routing_cfg, p.family);
  if (p.family == "gpt_oss") {
    // GptOssExperts: clamped SwiGLU with limit = swiglu_limit, α = 1.702 (swiglu_alpha if given).
    info.gated.clamped_swiglu = true;
    info.gated.limit = routing_cfg.number(routing_cfg.scope, "swiglu_limit").value_or(7.0);
    info.gated.alpha = routing_cfg.number(routing_cfg.scope, "swiglu_alpha").value_or(1.702);
  }
  // DBRX norm_2 and PhiMoE post_attention_layernorm are LayerNorms (eps 1e-5), the rest RMSNorm.
  if (p.family == "dbrx" || p.family == "phimoe") {
    info.pre_moe_norm = NormKind::Layer;
    info.norm_eps = 1e-5;
  }
  if (p.family != "dbrx")
    if (auto eps = routing_cfg.number(routing_cfg.scope, "rms_norm_eps"))
      info.norm_eps = *eps;

  std::string stem = prefix;
  for (const char* tail : {"layers.", "blocks."})
    if (stem.ends_with(tail))
      stem.resize(stem.size() - std::char_traits<char>::length(tail));
  for (const std::string& cand :
       {stem + "embed_tokens.weight", stem + "wte.weight", std::string("model.embed_tokens.weight"),
        std::string("transformer.wte.weight")})
    if (store.contains(cand)) {
      plan.embeddings = cand;
      break;
    }
  return plan;
}

} // namespace routerscope::io
