#include "io/families.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace routerscope::io::layout {

const BlockRule kBlockRules[7] = {
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
    r.sparsemixer = true;
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

} // namespace routerscope::io::layout
