#include "io/layout_rules.h"

#include "core/error.h"
#include "io/families.h"

#include <cctype>
#include <map>
#include <set>

namespace routerscope::io {

using nlohmann::json;

std::string MatrixSource::tensor_name(int expert) const {
  std::string out = name;
  auto pos = out.find("{e}");
  if (pos != std::string::npos)
    out.replace(pos, 3, std::to_string(expert));
  return out;
}

namespace layout {

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

} // namespace layout

using namespace layout;

CheckpointPlan plan_checkpoint(const TensorStore& store, const json* config,
                               const std::string& config_path, const std::string& opened) {
  Planner p{store, opened, {}, {}, nullptr, false, {}};
  p.cfg.path = config_path;
  std::string model_type;
  if (config) {
    if (!config->is_object())
      throw_input_error(config_path + ": expected a JSON object");
    model_type = p.cfg.text(config, "model_type").value_or("");
    if (const FamilyRow* row = find_family(model_type)) {
      p.family = model_type;
      p.row = row;
      p.family_from_config = true;
      p.cfg.root = config;
      p.cfg.scope = config;
      if (row->scope && (!row->scope_optional || member(config, row->scope)))
        p.cfg.scope = member(config, row->scope);
      p.dims = family_dims(p.cfg, *row);
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
    for (const BlockRow& r : block_rows())
      if (store.contains(base + r.router)) {
        Block kind = r.kind;
        if (kind == Block::GptOss && p.family_from_config && p.row->block == Block::MlpGate)
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
    prefix = p.row->layers;
    if (!prefixes.count(prefix) && !prefixes.empty() && p.row->layers_hint) {
      for (const auto& [pre, layers] : prefixes)
        if (pre.find(p.row->layers_hint) != std::string::npos)
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
    model_block = p.row->block;

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
    bool moe = p.family_from_config ? configured_moe(p.cfg, *p.row, l) : kind.has_value();
    if (moe && !kind)
      throw_input_error(opened + ": layer " + std::to_string(l) + " is an MoE layer (family " +
                        p.family + ") but its router tensor " + base +
                        block_row(*model_block).router + " is missing");
    const std::optional<Block> norm_block = kind ? kind : model_block;
    std::string norm = base + (norm_block ? block_row(*norm_block).norm
                                          : std::string("post_attention_layernorm.weight"));
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
    const BlockRow& block = block_row(*kind);
    ExpertForm form = block.experts({p, base, l, E, *D, d_expert});
    if (layout.empty())
      layout = form.layout;
    if (!p.family_from_config && p.family.empty()) {
      p.family = guess_family(p, *kind, base, form);
      p.row = find_family(p.family);
    }
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

    // A bias [D] added to the whole block output.
    if (block.output_bias && p.has(base + block.output_bias)) {
      p.expect(base + block.output_bias, {*D}, "D=" + std::to_string(*D), l);
      lp.output_bias = base + block.output_bias;
    }

    // Router bias (added to logits, or the selection bias).
    if (block.router_bias && p.has(base + block.router_bias)) {
      p.expect(base + block.router_bias, {E}, why, l);
      lp.router_bias = base + block.router_bias;
    }

    // Shared expert(s).
    std::string shared;
    for (const char* s : block.shared)
      if (s && shared.empty() && p.has(base + s + "gate_proj.weight"))
        shared = base + s;
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
      } else if (p.row->shared_width_key) {
        if (auto cfg_is = p.cfg.integer(p.cfg.scope, {p.row->shared_width_key}))
          Is = *cfg_is;
      }
      std::string swhy = "D=" + std::to_string(*D) + ", shared width " + std::to_string(Is);
      p.expect(lp.shared_gate_proj, {Is, *D}, swhy, l);
      p.expect(lp.shared_up_proj, {Is, *D}, swhy, l);
      p.expect(lp.shared_down_proj, {*D, Is}, swhy, l);
      li.shared_experts = static_cast<int>(n_shared);
      li.d_shared = static_cast<int>(Is);
      const std::string sg = block.shared_gate ? base + block.shared_gate : std::string();
      if (!sg.empty() && p.has(sg)) {
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
  const FamilyRow& family = *p.row;
  info.routing = routing_rule(routing_cfg, family);
  info.activation = activation(routing_cfg, family);
  if (family.clamped_swiglu) {
    // GptOssExperts: clamped SwiGLU with limit = swiglu_limit, α = 1.702 (swiglu_alpha if given).
    info.gated.clamped_swiglu = true;
    info.gated.limit = routing_cfg.number(routing_cfg.scope, "swiglu_limit").value_or(7.0);
    info.gated.alpha = routing_cfg.number(routing_cfg.scope, "swiglu_alpha").value_or(1.702);
  }
  info.pre_moe_norm = family.norm;
  info.norm_eps = family.norm_eps;
  if (family.norm_eps_key)
    if (auto eps = routing_cfg.number(routing_cfg.scope, family.norm_eps_key))
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
