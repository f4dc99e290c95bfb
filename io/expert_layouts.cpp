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

} // namespace routerscope::io::layout
