// The family table: one row per checkpoint family (config.json model_type) with its block, layer
// prefix, config scope and keys, MoE-layer rule, routing rule, activation and norm. The rules
// that differ between families are the small functions above the table. Adding a family is
// adding a row (and its rule functions when they are new) plus its tests (docs/ARCHITECTURE.md).
#include "io/families.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace routerscope::io::layout {

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

namespace {

// ---- MoE-layer rules ------------------------------------------------------------------------

// Qwen2/3-MoE: every decoder_sparse_step-th layer, except mlp_only_layers (none with 0 experts).
bool qwen_moe_layer(const Config& c, int layer) {
  const json* s = c.scope;
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

// DeepSeek: layers from first_k_dense_replace on, every moe_layer_freq-th.
bool deepseek_moe_layer(const Config& c, int layer, std::int64_t default_first_dense) {
  const json* s = c.scope;
  std::int64_t first = c.integer(s, {"first_k_dense_replace"}).value_or(default_first_dense);
  std::int64_t freq = c.integer(s, {"moe_layer_freq"}).value_or(1);
  if (freq <= 0)
    throw_input_error(c.path + ": key moe_layer_freq must be positive, found " +
                      std::to_string(freq));
  return layer >= first && layer % freq == 0;
}
// DeepseekV2Config defaults first_k_dense_replace to 0, DeepseekV3Config to 3.
bool deepseek_v2_moe_layer(const Config& c, int layer) {
  return deepseek_moe_layer(c, layer, 0);
}
bool deepseek_v3_moe_layer(const Config& c, int layer) {
  return deepseek_moe_layer(c, layer, 3);
}

// Llama 4: the listed moe_layers, else every interleave_moe_layer_step-th layer.
bool llama4_moe_layer(const Config& c, int layer) {
  const json* s = c.scope;
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

// ---- routing rules --------------------------------------------------------------------------

RoutingRule renormalised_routing(const Config&) {
  RoutingRule r;
  r.renormalize = true;
  return r;
}

RoutingRule sparsemixer_routing(const Config& c) {
  RoutingRule r;
  // PhimoeSparseMoeBlock passes router_jitter_noise (PhimoeConfig default 0.01) to sparsemixer as
  // jitter_eps, the relative distance from the best logit beyond which experts are masked.
  r.sparsemixer = true;
  r.jitter_eps = c.number(c.scope, "router_jitter_noise").value_or(0.01);
  if (!(r.jitter_eps >= 0) || !std::isfinite(r.jitter_eps))
    throw_input_error(c.path + ": key router_jitter_noise must be a finite number >= 0, found " +
                      std::to_string(r.jitter_eps));
  return r;
}

// OLMoE, Qwen2/3-MoE: softmax, top-k, renormalised when norm_topk_prob.
RoutingRule norm_topk_routing(const Config& c) {
  RoutingRule r;
  r.renormalize = c.boolean(c.scope, "norm_topk_prob").value_or(false);
  return r;
}

RoutingRule deepseek_v2_routing(const Config& c) {
  const json* s = c.scope;
  RoutingRule r;
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
  return r;
}

RoutingRule deepseek_v3_routing(const Config& c) {
  const json* s = c.scope;
  RoutingRule r;
  // Missing keys take DeepseekV3Config's defaults (n_group 8, topk_group 4).
  r.scoring = c.text(s, "scoring_func").value_or("sigmoid") == "softmax" ? Scoring::Softmax
                                                                         : Scoring::Sigmoid;
  r.selection_bias = true;
  r.renormalize = c.boolean(s, "norm_topk_prob").value_or(true);
  r.scaling = c.number(s, "routed_scaling_factor").value_or(2.5);
  r.n_group = static_cast<int>(c.integer(s, {"n_group"}).value_or(8));
  r.topk_group = static_cast<int>(c.integer(s, {"topk_group"}).value_or(4));
  return r;
}

// gpt-oss: top-k of the logits (router bias added), softmax over the k.
RoutingRule gpt_oss_routing(const Config&) {
  RoutingRule r;
  r.order = GateOrder::TopkSoftmax;
  r.logit_bias = true;
  return r;
}

// Granite-MoE, JetMoE: top-k of the logits, softmax over the k.
RoutingRule topk_softmax_routing(const Config&) {
  RoutingRule r;
  r.order = GateOrder::TopkSoftmax;
  return r;
}

RoutingRule dbrx_routing(const Config& c) {
  const json* s = c.scope;
  RoutingRule r;
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
  return r;
}

RoutingRule llama4_routing(const Config&) {
  RoutingRule r;
  r.scoring = Scoring::Sigmoid;
  r.order = GateOrder::TopkSoftmax;
  r.sigmoid_input_scale = true;
  return r;
}

// ---- activations ----------------------------------------------------------------------------

std::string dbrx_activation(const Config& c) {
  if (const json* f = member(c.scope, "ffn_act_fn"))
    if (auto n = c.text(f, "name"))
      return *n;
  return "silu";
}

// ---- the table ------------------------------------------------------------------------------

const FamilyRow kFamilies[] = {
    {.name = "mixtral", .block = Block::SparseMoe, .routing = renormalised_routing},
    {.name = "olmoe",
     .block = Block::MlpGate,
     .experts = {{"num_experts"}},
     .routing = norm_topk_routing},
    {.name = "qwen2_moe",
     .block = Block::MlpGate,
     .experts = {{"num_experts"}},
     .d_expert = {{"moe_intermediate_size"}},
     .moe_layer = qwen_moe_layer,
     .routing = norm_topk_routing},
    {.name = "qwen3_moe",
     .block = Block::MlpGate,
     .experts = {{"num_experts"}},
     .d_expert = {{"moe_intermediate_size"}},
     .moe_layer = qwen_moe_layer,
     .routing = norm_topk_routing},
    {.name = "deepseek_v2",
     .block = Block::MlpGate,
     .experts = {{"n_routed_experts"}},
     .d_expert = {{"moe_intermediate_size"}},
     .moe_layer = deepseek_v2_moe_layer,
     .routing = deepseek_v2_routing},
    {.name = "deepseek_v3",
     .block = Block::MlpGate,
     .experts = {{"n_routed_experts"}},
     .d_expert = {{"moe_intermediate_size"}},
     .moe_layer = deepseek_v3_moe_layer,
     .routing = deepseek_v3_routing},
    {.name = "gpt_oss", .block = Block::GptOss, .routing = gpt_oss_routing, .clamped_swiglu = true},
    // PhiMoE's post_attention_layernorm is a LayerNorm with a bias, eps = rms_norm_eps.
    {.name = "phimoe",
     .block = Block::SparseMoe,
     .default_top_k = 2,
     .routing = sparsemixer_routing,
     .norm = NormKind::Layer,
     .norm_eps = 1e-5},
    {.name = "granitemoe", .block = Block::Granite, .routing = topk_softmax_routing},
    {.name = "jetmoe", .block = Block::JetMoe, .routing = topk_softmax_routing},
    // DBRX: keys in ffn_config (sizes at the top level); norm_2 is a LayerNorm without bias.
    {.name = "dbrx",
     .block = Block::Dbrx,
     .layers = "transformer.blocks.",
     .scope = "ffn_config",
     .experts = {{"moe_num_experts"}},
     .top_k = {{"moe_top_k"}},
     .d_expert = {{"ffn_hidden_size"}},
     .d_model = {{"d_model"}, true},
     .layer_count = {{"n_layers"}, true},
     .routing = dbrx_routing,
     .activation = dbrx_activation,
     .norm = NormKind::Layer,
     .norm_eps = 1e-5,
     .norm_eps_key = nullptr},
    // Llama 4: keys in text_config when the config has one; the shared expert's width is its own.
    {.name = "llama4",
     .block = Block::Llama4,
     .layers = "language_model.model.layers.",
     .layers_hint = "language_model",
     .scope = "text_config",
     .scope_optional = true,
     .moe_layer = llama4_moe_layer,
     .routing = llama4_routing,
     .shared_width_key = nullptr},
};

} // namespace

std::span<const FamilyRow> family_rows() {
  return kFamilies;
}

const FamilyRow* find_family(std::string_view model_type) {
  for (const auto& f : kFamilies)
    if (model_type == f.name)
      return &f;
  return nullptr;
}

FamilyDims family_dims(const Config& c, const FamilyRow& f) {
  auto read = [&](const Key& k) { return c.integer(k.root ? c.root : c.scope, k.names); };
  FamilyDims d;
  d.d_model = read(f.d_model);
  d.layers = read(f.layer_count);
  d.top_k = read(f.top_k);
  d.experts = read(f.experts);
  d.d_expert = read(f.d_expert);
  if (!d.top_k)
    d.top_k = f.default_top_k;
  return d;
}

bool configured_moe(const Config& c, const FamilyRow& f, int layer) {
  return f.moe_layer ? f.moe_layer(c, layer) : true;
}

RoutingRule routing_rule(const Config& c, const FamilyRow& f) {
  RoutingRule r = f.routing ? f.routing(c) : RoutingRule{};
  if (r.n_group < 1 || r.topk_group < 1 || r.topk_group > r.n_group)
    throw_input_error(c.path + ": n_group " + std::to_string(r.n_group) + " and topk_group " +
                      std::to_string(r.topk_group) + " must satisfy 1 <= topk_group <= n_group");
  return r;
}

std::string activation(const Config& c, const FamilyRow& f) {
  if (f.activation)
    return f.activation(c);
  if (auto a = c.text(c.scope, "hidden_act"))
    return *a;
  if (auto a = c.text(c.scope, "activation_function"))
    return *a;
  return "silu";
}

std::string guess_family(const Planner& p, Block kind, const std::string& base,
                         const ExpertForm& form) {
  if (const char* f = block_row(kind).family)
    return f;
  // The mlp.gate block: shared experts tell DeepSeek (V3 by its selection bias) and Qwen2-MoE;
  // Mixtral-style expert names (w1/w2/w3) tell Mixtral; otherwise OLMoE.
  if (p.has(base + "mlp.shared_experts.gate_proj.weight"))
    return p.has(base + "mlp.gate.e_score_correction_bias") ? "deepseek_v3" : "deepseek_v2";
  if (p.has(base + "mlp.shared_expert.gate_proj.weight"))
    return "qwen2_moe";
  if (form.gate.name.find(".w1.") != std::string::npos)
    return "mixtral";
  return "olmoe";
}

} // namespace routerscope::io::layout
