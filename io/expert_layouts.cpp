// The MoE block table: one row per block shape (router, norm, biases, shared experts) with the
// function that plans its experts' layout (per-expert, stacked, fused, input-major, row blocks).
#include "io/families.h"

#include "core/error.h"

namespace routerscope::io::layout {

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

namespace {

using Index = MatrixSource::Index;

MatrixSource lead(std::string name, bool input_major, std::int64_t begin, std::int64_t count,
                  std::int64_t step) {
  MatrixSource s;
  s.name = std::move(name);
  s.index = Index::Lead;
  s.input_major = input_major;
  s.begin = begin;
  s.count = count;
  s.step = step;
  return s;
}

// The reason given beside an expected shape.
std::string why(const ExpertQuery& q, std::int64_t I) {
  return "E=" + std::to_string(q.E) + " experts, D=" + std::to_string(q.D) +
         ", d=" + std::to_string(I);
}

// Stacked output-major experts: gate_up [E, 2d, D] (gate rows first), down [E, D, d].
ExpertForm output_major_pair(const ExpertQuery& q, const std::string& gu, const std::string& dn,
                             const char* layout) {
  const Planner& p = q.p;
  ExpertForm f;
  f.layout = layout;
  auto s = p.shape_of(gu, q.layer);
  require_rank(s, 3, gu, p.opened);
  std::int64_t I = q.d_expert.value_or(half(s, 1, gu, p.opened));
  p.expect(gu, {q.E, 2 * I, q.D}, why(q, I), q.layer);
  p.expect(dn, {q.E, q.D, I}, why(q, I), q.layer);
  f.gate = lead(gu, false, 0, I, 1);
  f.up = lead(gu, false, I, I, 1);
  f.down = lead(dn, false, 0, q.D, 1);
  q.d_expert = I;
  return f;
}

// Experts under P = "<base>mlp." or "<base>block_sparse_moe.": stacked gate_up_proj/down_proj, or
// one Linear per expert (gate_proj/up_proj/down_proj or Mixtral's w1/w3/w2).
ExpertForm gate_router_experts(const ExpertQuery& q, const std::string& P) {
  const Planner& p = q.p;
  if (p.has(P + "experts.gate_up_proj"))
    return output_major_pair(q, P + "experts.gate_up_proj", P + "experts.down_proj", "stacked");
  const char* names[3] = {nullptr, nullptr, nullptr};
  if (p.has(P + "experts.0.gate_proj.weight")) {
    names[0] = "gate_proj", names[1] = "up_proj", names[2] = "down_proj";
  } else if (p.has(P + "experts.0.w1.weight")) {
    names[0] = "w1", names[1] = "w3", names[2] = "w2";
  } else {
    throw_input_error(p.opened + ": layer " + std::to_string(q.layer) + ": router " + P +
                      "gate.weight found but no experts (expected " + P +
                      "experts.0.gate_proj.weight, " + P + "experts.0.w1.weight or " + P +
                      "experts.gate_up_proj)");
  }
  ExpertForm f;
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
  auto s0 = p.shape_of(f.gate.tensor_name(0), q.layer);
  require_rank(s0, 2, f.gate.tensor_name(0), p.opened);
  std::int64_t I = q.d_expert.value_or(s0[0]);
  for (int e = 0; e < q.E; ++e) {
    p.expect(f.gate.tensor_name(e), {I, q.D}, why(q, I), q.layer);
    p.expect(f.up.tensor_name(e), {I, q.D}, why(q, I), q.layer);
    p.expect(f.down.tensor_name(e), {q.D, I}, why(q, I), q.layer);
  }
  f.gate.count = f.up.count = I;
  f.down.count = q.D;
  q.d_expert = I;
  return f;
}

ExpertForm mlp_gate_experts(const ExpertQuery& q) {
  return gate_router_experts(q, q.base + "mlp.");
}

ExpertForm sparse_moe_experts(const ExpertQuery& q) {
  return gate_router_experts(q, q.base + "block_sparse_moe.");
}

// gpt-oss: fused gate_up with gate and up interleaved (even/odd), biases beside them.
ExpertForm gpt_oss_experts(const ExpertQuery& q) {
  const Planner& p = q.p;
  const std::string& w = p.opened;
  ExpertForm f;
  f.layout = "fused";
  std::string P = q.base + "mlp.experts.";
  std::string gu = P + "gate_up_proj", dn = P + "down_proj";
  // MXFP4 pairs dequantise to the output-major [E, 2I, D] / [E, D, I]; plain tensors are the
  // input-major parameters [E, D, 2I] / [E, I, D]. Each tensor is judged on its own.
  bool gu_mx = !p.store.contains(gu) && p.has(gu);
  bool dn_mx = !p.store.contains(dn) && p.has(dn);
  auto s = p.shape_of(gu, q.layer);
  require_rank(s, 3, gu, w);
  std::int64_t I = q.d_expert.value_or(half(s, gu_mx ? 1 : 2, gu, w));
  const std::int64_t E = q.E, D = q.D;
  if (gu_mx)
    p.expect(gu, {E, 2 * I, D}, why(q, I) + ", MXFP4 output-major", q.layer);
  else
    p.expect(gu, {E, D, 2 * I}, why(q, I) + ", input-major", q.layer);
  if (dn_mx)
    p.expect(dn, {E, D, I}, why(q, I) + ", MXFP4 output-major", q.layer);
  else
    p.expect(dn, {E, I, D}, why(q, I) + ", input-major", q.layer);
  f.gate = lead(gu, !gu_mx, 0, I, 2);
  f.up = lead(gu, !gu_mx, 1, I, 2);
  f.down = lead(dn, !dn_mx, 0, D, 1);
  if (p.has(P + "gate_up_proj_bias")) {
    p.expect(P + "gate_up_proj_bias", {E, 2 * I}, why(q, I), q.layer);
    f.gate_bias = {P + "gate_up_proj_bias", 0, I, 2};
    f.up_bias = {P + "gate_up_proj_bias", 1, I, 2};
  }
  if (p.has(P + "down_proj_bias")) {
    p.expect(P + "down_proj_bias", {E, D}, why(q, I), q.layer);
    f.down_bias = {P + "down_proj_bias", 0, D, 1};
  }
  q.d_expert = I;
  return f;
}

ExpertForm granite_experts(const ExpertQuery& q) {
  const std::string P = q.base + "block_sparse_moe.";
  return output_major_pair(q, P + "input_linear.weight", P + "output_linear.weight", "fused");
}

ExpertForm jetmoe_experts(const ExpertQuery& q) {
  const std::string P = q.base + "mlp.";
  return output_major_pair(q, P + "input_linear.weight", P + "output_linear.weight", "fused");
}

// Llama 4: input-major gate_up [E, D, 2d] (gate columns first), down [E, d, D].
ExpertForm llama4_experts(const ExpertQuery& q) {
  const Planner& p = q.p;
  ExpertForm f;
  f.layout = "fused";
  std::string P = q.base + "feed_forward.experts.";
  std::string gu = P + "gate_up_proj", dn = P + "down_proj";
  auto s = p.shape_of(gu, q.layer);
  require_rank(s, 3, gu, p.opened);
  std::int64_t I = q.d_expert.value_or(half(s, 2, gu, p.opened));
  p.expect(gu, {q.E, q.D, 2 * I}, why(q, I) + ", input-major", q.layer);
  p.expect(dn, {q.E, I, q.D}, why(q, I) + ", input-major", q.layer);
  f.gate = lead(gu, true, 0, I, 1);
  f.up = lead(gu, true, I, I, 1);
  f.down = lead(dn, true, 0, q.D, 1);
  q.d_expert = I;
  return f;
}

// DBRX: w1 (gate), v1 (up), w2 each [E·I, D]; w2[e] is applied as h @ w2[e] (input-major).
ExpertForm dbrx_experts(const ExpertQuery& q) {
  const Planner& p = q.p;
  ExpertForm f;
  f.layout = "fused";
  std::string P = q.base + "ffn.experts.mlp.";
  auto s = p.shape_of(P + "w1", q.layer);
  require_rank(s, 2, P + "w1", p.opened);
  if (!q.d_expert && (q.E <= 0 || s[0] % q.E != 0))
    throw_input_error(p.opened + ": tensor " + P + "w1 has shape " + shape_text(s) +
                      ": its rows must be a multiple of E=" + std::to_string(q.E));
  std::int64_t I = q.d_expert.value_or(s[0] / q.E);
  for (const char* n : {"w1", "v1", "w2"})
    p.expect(P + n, {q.E * I, q.D}, why(q, I) + ", rows e*d..(e+1)*d per expert", q.layer);
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
  f.down = block("w2", true, q.D);
  q.d_expert = I;
  return f;
}

constexpr const char* kPostAttentionNorm = "post_attention_layernorm.weight";

// In the order routers are looked for: gpt-oss's mlp.router.weight before JetMoE's
// mlp.router.layer.weight is harmless (the names differ), the mlp.gate block last.
const BlockRow kBlocks[] = {
    {Block::GptOss,
     "mlp.router.weight",
     kPostAttentionNorm,
     "mlp.router.bias",
     nullptr,
     {nullptr, nullptr},
     nullptr,
     "gpt_oss",
     gpt_oss_experts},
    // JetMoE adds one bias [D] to the whole block output (JetMoeMoE.forward: + self.bias).
    {Block::JetMoe,
     "mlp.router.layer.weight",
     kPostAttentionNorm,
     nullptr,
     "mlp.bias",
     {nullptr, nullptr},
     nullptr,
     "jetmoe",
     jetmoe_experts},
    {Block::Granite,
     "block_sparse_moe.router.layer.weight",
     kPostAttentionNorm,
     nullptr,
     nullptr,
     {nullptr, nullptr},
     nullptr,
     "granitemoe",
     granite_experts},
    {Block::Dbrx,
     "ffn.router.layer.weight",
     "norm_attn_norm.norm_2.weight",
     nullptr,
     nullptr,
     {nullptr, nullptr},
     nullptr,
     "dbrx",
     dbrx_experts},
    {Block::Llama4,
     "feed_forward.router.weight",
     kPostAttentionNorm,
     nullptr,
     nullptr,
     {"feed_forward.shared_expert.", nullptr},
     nullptr,
     "llama4",
     llama4_experts},
    {Block::SparseMoe,
     "block_sparse_moe.gate.weight",
     kPostAttentionNorm,
     nullptr,
     nullptr,
     {nullptr, nullptr},
     nullptr,
     "mixtral",
     sparse_moe_experts},
    // OLMoE, Qwen2/3-MoE, DeepSeek: DeepSeek-V3's selection bias, DeepSeek's shared_experts (one
    // MLP n_shared_experts wide), Qwen2-MoE's shared_expert with its sigmoid gate.
    {Block::MlpGate,
     "mlp.gate.weight",
     kPostAttentionNorm,
     "mlp.gate.e_score_correction_bias",
     nullptr,
     {"mlp.shared_experts.", "mlp.shared_expert."},
     "mlp.shared_expert_gate.weight",
     nullptr,
     mlp_gate_experts},
};

} // namespace

std::span<const BlockRow> block_rows() {
  return kBlocks;
}

const BlockRow& block_row(Block kind) {
  for (const auto& b : kBlocks)
    if (b.kind == kind)
      return b;
  throw_internal_error("no block row for a block kind");
}

} // namespace routerscope::io::layout
