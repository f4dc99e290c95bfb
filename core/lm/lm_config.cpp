#include "core/lm/lm_config.h"

#include "core/error.h"

#include <string>

namespace routerscope::lm {

namespace {

void require_positive(int value, const char* option) {
  if (value < 1)
    throw_input_error(std::string(option) + " must be at least 1, got " + std::to_string(value));
}

} // namespace

void LmConfig::validate() const {
  require_positive(vocab, "--vocab");
  require_positive(d_model, "--d-model");
  require_positive(layers, "--layers");
  require_positive(heads, "--heads");
  require_positive(experts, "--experts");
  require_positive(top_k, "--top-k");
  require_positive(d_expert, "--d-expert");
  if (ctx < 2)
    throw_input_error("--ctx must be at least 2, got " + std::to_string(ctx));
  if (d_model % heads != 0)
    throw_input_error("--heads " + std::to_string(heads) + " does not divide --d-model " +
                      std::to_string(d_model));
  if (head_dim() % 2 != 0)
    throw_input_error("--d-model / --heads must be even for RoPE, got " +
                      std::to_string(head_dim()));
  if (top_k > experts)
    throw_input_error("--top-k " + std::to_string(top_k) + " exceeds --experts " +
                      std::to_string(experts));
  if (!(rope_theta > 0))
    throw_input_error("rope_theta must be positive, got " + std::to_string(rope_theta));
  if (!(norm_eps > 0))
    throw_input_error("norm_eps must be positive, got " + std::to_string(norm_eps));
  if (!(init_std > 0))
    throw_input_error("init_std must be positive, got " + std::to_string(init_std));
}

std::vector<LmTensorInfo> lm_tensor_layout(const LmConfig& c) {
  std::vector<LmTensorInfo> out;
  std::size_t offset = 0;
  auto add = [&](std::string name, std::vector<std::int64_t> shape) {
    LmTensorInfo t;
    t.name = std::move(name);
    t.size = 1;
    for (auto d : shape)
      t.size *= std::size_t(d);
    t.matrix = shape.size() == 2;
    t.shape = std::move(shape);
    t.offset = offset;
    offset += t.size;
    out.push_back(std::move(t));
  };
  const std::int64_t d = c.d_model, f = c.d_expert, v = c.vocab, e = c.experts;
  add("model.embed_tokens.weight", {v, d});
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {d});
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"})
      add(p + "self_attn." + proj + ".weight", {d, d});
    add(p + "post_attention_layernorm.weight", {d});
    add(p + "block_sparse_moe.gate.weight", {e, d});
    for (int x = 0; x < c.experts; ++x) {
      const std::string q = p + "block_sparse_moe.experts." + std::to_string(x) + ".";
      add(q + "w1.weight", {f, d});
      add(q + "w2.weight", {d, f});
      add(q + "w3.weight", {f, d});
    }
  }
  add("model.norm.weight", {d});
  add("lm_head.weight", {v, d});
  return out;
}

LmSlots lm_slots(const LmConfig& c) {
  LmSlots s;
  int i = 0;
  s.embed = i++;
  for (int l = 0; l < c.layers; ++l) {
    LmLayerSlots ls;
    ls.input_norm = i++;
    ls.q = i++;
    ls.k = i++;
    ls.v = i++;
    ls.o = i++;
    ls.post_norm = i++;
    ls.gate = i++;
    for (int x = 0; x < c.experts; ++x) {
      ls.w1.push_back(i++);
      ls.w2.push_back(i++);
      ls.w3.push_back(i++);
    }
    s.layers.push_back(std::move(ls));
  }
  s.final_norm = i++;
  s.lm_head = i++;
  return s;
}

} // namespace routerscope::lm
