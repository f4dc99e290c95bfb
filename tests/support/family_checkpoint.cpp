#include "tests/support/family_checkpoint.h"

#include "core/error.h"
#include "io/safetensors_writer.h"
#include "tests/support/test_support.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

namespace routerscope::test {

namespace fs = std::filesystem;
using nlohmann::json;

float reference_e4m3(std::uint8_t bits) {
  int sign = bits >> 7, exp = (bits >> 3) & 0xF, man = bits & 7;
  double v;
  if (exp == 15 && man == 7)
    return std::nanf("");
  if (exp == 0)
    v = man / 8.0 * std::ldexp(1.0, -6);
  else
    v = (1.0 + man / 8.0) * std::ldexp(1.0, exp - 7);
  return static_cast<float>(sign ? -v : v);
}

float reference_e2m1(std::uint8_t nibble) {
  static const float kTable[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                   -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
  return kTable[nibble & 0xF];
}

namespace {

struct Writer {
  const FamilySpec& spec;
  io::SafetensorsWriter shards[2];
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> names;
  int counter = 0;

  io::SafetensorsWriter& next(std::string& name) {
    if (auto r = spec.rename.find(name); r != spec.rename.end())
      name = r->second;
    names.push_back(name);
    int i = spec.sharded ? (counter++ % 2) : 0;
    weight_map[name] =
        i == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    return shards[i];
  }
  void put(std::string name, std::vector<std::int64_t> shape, const std::vector<float>& values,
           io::DType dtype) {
    if (spec.omit.count(name))
      return;
    next(name).add(name, dtype, std::move(shape), values);
  }
  void put(const std::string& name, const MatrixF& given) {
    auto r = spec.replace.find(name);
    const MatrixF& m = r == spec.replace.end() ? given : r->second;
    put(name, {m.rows(), m.cols()}, std::vector<float>(m.data(), m.data() + m.size()), spec.dtype);
  }
  void put(const std::string& name, const VectorF& v, io::DType dtype) {
    put(name, {v.size()}, std::vector<float>(v.data(), v.data() + v.size()), dtype);
  }
  void put_raw(std::string name, io::DType dtype, std::vector<std::int64_t> shape,
               std::vector<std::byte> bytes) {
    if (spec.omit.count(name))
      return;
    next(name).add_raw(name, dtype, std::move(shape), std::move(bytes));
  }

  // DeepSeek-V3 FP8: q = e4m3(w / s) per 128x128 block with s = max|w|/448 (F32
  // "<name>_scale_inv"); `m` becomes the dequantised values q·s.
  void put_fp8(const std::string& name, MatrixF& m) {
    const int B = 128;
    int br = (static_cast<int>(m.rows()) + B - 1) / B,
        bc = (static_cast<int>(m.cols()) + B - 1) / B;
    MatrixF scale(br, bc);
    std::vector<std::byte> q(static_cast<size_t>(m.size()));
    for (int i = 0; i < br; ++i)
      for (int j = 0; j < bc; ++j) {
        int r0 = i * B, c0 = j * B;
        int rn = std::min<int>(B, static_cast<int>(m.rows()) - r0);
        int cn = std::min<int>(B, static_cast<int>(m.cols()) - c0);
        float amax = m.block(r0, c0, rn, cn).cwiseAbs().maxCoeff();
        float s = amax > 0 ? amax / 448.0f : 1.0f;
        scale(i, j) = s;
        for (int r = r0; r < r0 + rn; ++r)
          for (int c = c0; c < c0 + cn; ++c) {
            std::uint8_t b = io::float_to_fp8_e4m3(m(r, c) / s);
            q[static_cast<size_t>(r * m.cols() + c)] = std::byte{b};
            m(r, c) = reference_e4m3(b) * s;
          }
      }
    put_raw(name, io::DType::F8_E4M3, {m.rows(), m.cols()}, std::move(q));
    put(name + "_scale_inv", {br, bc},
        std::vector<float>(scale.data(), scale.data() + scale.size()), io::DType::F32);
  }

  // gpt-oss MXFP4: logical [E, rows, cols] (row-major in `v`) into "<name>_blocks"/"_scales";
  // `v` becomes the dequantised values.
  void put_mxfp4(const std::string& name, std::int64_t E, std::int64_t rows, std::int64_t cols,
                 std::vector<float>& v) {
    std::int64_t groups = cols / 32;
    std::vector<std::byte> blocks(static_cast<size_t>(E * rows * groups * 16));
    std::vector<std::byte> scales(static_cast<size_t>(E * rows * groups));
    for (std::int64_t r = 0; r < E * rows; ++r)
      for (std::int64_t g = 0; g < groups; ++g) {
        float* x = v.data() + r * cols + g * 32;
        float amax = 0;
        for (int i = 0; i < 32; ++i)
          amax = std::max(amax, std::fabs(x[i]));
        int e = amax > 0 ? static_cast<int>(std::ceil(std::log2(amax / 6.0f))) : 0;
        scales[static_cast<size_t>(r * groups + g)] = std::byte{static_cast<std::uint8_t>(e + 127)};
        for (int i = 0; i < 32; ++i) {
          std::uint8_t nib = io::float_to_fp4_e2m1(std::ldexp(x[i], -e)) & 0xF;
          auto& byte = blocks[static_cast<size_t>((r * groups + g) * 16 + i / 2)];
          byte |= std::byte{static_cast<std::uint8_t>(i % 2 == 0 ? nib : nib << 4)};
          x[i] = std::ldexp(reference_e2m1(nib), e);
        }
      }
    put_raw(name + "_blocks", io::DType::U8, {E, rows, groups, 16}, std::move(blocks));
    put_raw(name + "_scales", io::DType::U8, {E, rows, groups}, std::move(scales));
  }

  void write(const fs::path& dir) {
    if (!spec.sharded) {
      shards[0].write(dir / "model.safetensors");
      return;
    }
    shards[0].write(dir / "model-00001-of-00002.safetensors");
    shards[1].write(dir / "model-00002-of-00002.safetensors");
    json index = {{"metadata", json::object()}, {"weight_map", weight_map}};
    std::ofstream(dir / "model.safetensors.index.json") << index.dump(1);
  }
};

json family_config(const FamilySpec& s) {
  const std::string& f = s.family;
  json c = {{"model_type", f},
            {"hidden_size", s.d_model},
            {"num_hidden_layers", s.layers},
            {"num_experts_per_tok", s.top_k},
            {"vocab_size", s.vocab}};
  if (f == "olmoe") {
    c["num_experts"] = s.experts;
    c["intermediate_size"] = s.d_expert;
    c["norm_topk_prob"] = false;
  } else if (f == "qwen2_moe" || f == "qwen3_moe") {
    c["num_experts"] = s.experts;
    c["moe_intermediate_size"] = s.d_expert;
    c["intermediate_size"] = 4 * s.d_expert;
    c["decoder_sparse_step"] = 1;
    c["mlp_only_layers"] = s.dense_layers;
    c["norm_topk_prob"] = f == "qwen3_moe";
    if (s.shared_width)
      c["shared_expert_intermediate_size"] = s.shared_width;
  } else if (f == "deepseek_v2" || f == "deepseek_v3") {
    c["n_routed_experts"] = s.experts;
    c["moe_intermediate_size"] = s.d_expert;
    c["intermediate_size"] = 4 * s.d_expert;
    c["n_shared_experts"] = s.shared_width ? s.n_shared_experts : 0;
    c["first_k_dense_replace"] = static_cast<int>(s.dense_layers.size());
    c["routed_scaling_factor"] = f == "deepseek_v3" ? 2.5 : 1.0;
    c["norm_topk_prob"] = f == "deepseek_v3";
    if (f == "deepseek_v3") {
      c["scoring_func"] = "sigmoid";
      c["n_group"] = 2;
      c["topk_group"] = 1;
      c["topk_method"] = "noaux_tc";
    } else {
      c["topk_method"] = "greedy";
    }
  } else if (f == "dbrx") {
    c = {{"model_type", "dbrx"},
         {"d_model", s.d_model},
         {"n_layers", s.layers},
         {"vocab_size", s.vocab},
         {"ffn_config",
          {{"moe_num_experts", s.experts},
           {"moe_top_k", s.top_k},
           {"ffn_hidden_size", s.d_expert},
           {"moe_normalize_expert_weights", 1},
           {"ffn_act_fn", {{"name", "silu"}}}}}};
  } else if (f == "llama4") {
    json text = c;
    text.erase("model_type");
    text["model_type"] = "llama4_text";
    text["num_local_experts"] = s.experts;
    text["intermediate_size"] = s.d_expert;
    text["intermediate_size_mlp"] = 4 * s.d_expert;
    std::vector<int> moe;
    for (int l = 0; l < s.layers; ++l)
      if (std::find(s.dense_layers.begin(), s.dense_layers.end(), l) == s.dense_layers.end())
        moe.push_back(l);
    text["moe_layers"] = moe;
    c = {{"model_type", "llama4"}, {"text_config", text}};
  } else {
    c["num_local_experts"] = s.experts;
    c["intermediate_size"] = s.d_expert;
  }
  if (f == "jetmoe")
    c["activation_function"] = "silu";
  c.merge_patch(s.config_patch);
  return c;
}

std::vector<float> flat(const MatrixF& m) {
  return {m.data(), m.data() + m.size()};
}

} // namespace

FamilyCheckpoint write_family_checkpoint(const fs::path& dir, const FamilySpec& s) {
  const std::string& f = s.family;
  const std::string& v = s.variant;
  const std::int64_t E = s.experts, D = s.d_model, I = s.d_expert;
  Writer w{s, {}, {}, {}, 0};
  FamilyCheckpoint out;
  std::uint64_t seed = s.seed * 1000003u;
  auto rnd = [&](int r, int c, float scale) { return random_matrix(r, c, ++seed, scale); };
  auto rvec = [&](int n, float scale) -> VectorF { return rnd(n, 1, scale).col(0); };

  std::string prefix = !s.layer_prefix.empty() ? s.layer_prefix
                       : f == "dbrx"           ? "transformer.blocks."
                       : f == "llama4"         ? "language_model.model.layers."
                                               : "model.layers.";
  bool per_expert_family = f == "mixtral" || f == "phimoe" || f == "olmoe" || f == "qwen2_moe" ||
                           f == "qwen3_moe" || f == "deepseek_v2" || f == "deepseek_v3";
  bool fp8 = v == "fp8";

  for (int l = 0; l < s.layers; ++l) {
    ExpectedLayer L;
    std::string base = prefix + std::to_string(l) + ".";
    L.norm = rvec(static_cast<int>(D), 1.0f);
    w.put(base + (f == "dbrx" ? "norm_attn_norm.norm_2.weight" : "post_attention_layernorm.weight"),
          L.norm, s.dtype);
    bool dense = std::find(s.dense_layers.begin(), s.dense_layers.end(), l) != s.dense_layers.end();
    if (dense) {
      std::string mlp = base + (f == "llama4" ? "feed_forward." : "mlp.");
      w.put(mlp + "gate_proj.weight", rnd(4 * s.d_expert, s.d_model, 0.1f));
      w.put(mlp + "up_proj.weight", rnd(4 * s.d_expert, s.d_model, 0.1f));
      w.put(mlp + "down_proj.weight", rnd(s.d_model, 4 * s.d_expert, 0.1f));
      out.layers[l] = L;
      continue;
    }
    L.moe = true;
    L.router = rnd(s.experts, s.d_model, 0.5f);
    for (int e = 0; e < s.experts; ++e) {
      ExpectedExpert x;
      x.gate = rnd(s.d_expert, s.d_model, 0.3f);
      x.up = rnd(s.d_expert, s.d_model, 0.3f);
      x.down = rnd(s.d_model, s.d_expert, 0.3f);
      L.experts.push_back(x);
    }

    if (per_expert_family && v != "stacked") {
      bool mix = f == "mixtral" || f == "phimoe";
      std::string P = base + (mix ? "block_sparse_moe." : "mlp.");
      w.put(P + "gate.weight", L.router);
      const char* n[3] = {"gate_proj", "up_proj", "down_proj"};
      if (mix)
        n[0] = "w1", n[1] = "w3", n[2] = "w2";
      for (int e = 0; e < s.experts; ++e) {
        std::string ep = P + "experts." + std::to_string(e) + ".";
        auto& x = L.experts[static_cast<size_t>(e)];
        MatrixF* m[3] = {&x.gate, &x.up, &x.down};
        for (int k = 0; k < 3; ++k) {
          if (fp8)
            w.put_fp8(ep + n[k] + ".weight", *m[k]);
          else
            w.put(ep + n[k] + ".weight", *m[k]);
        }
      }
    } else if (v == "stacked") {
      // transformers v5: the router is mlp.gate whatever the family.
      std::string P = base + "mlp.";
      w.put(P + "gate.weight", L.router);
      std::vector<float> gu, dn;
      for (auto& x : L.experts) {
        auto a = flat(x.gate), b = flat(x.up), c = flat(x.down);
        gu.insert(gu.end(), a.begin(), a.end());
        gu.insert(gu.end(), b.begin(), b.end());
        dn.insert(dn.end(), c.begin(), c.end());
      }
      w.put(P + "experts.gate_up_proj", {E, 2 * I, D}, gu, s.dtype);
      w.put(P + "experts.down_proj", {E, D, I}, dn, s.dtype);
    } else if (f == "gpt_oss") {
      std::string P = base + "mlp.";
      L.router_bias = rvec(s.experts, 0.5f);
      w.put(P + "router.weight", L.router);
      w.put(P + "router.bias", L.router_bias, s.dtype);
      std::vector<float> gub, db;
      for (auto& x : L.experts) {
        x.gate_bias = rvec(s.d_expert, 0.2f);
        x.up_bias = rvec(s.d_expert, 0.2f);
        x.down_bias = rvec(s.d_model, 0.2f);
        for (int j = 0; j < I; ++j) {
          gub.push_back(x.gate_bias(j));
          gub.push_back(x.up_bias(j));
        }
        db.insert(db.end(), x.down_bias.data(), x.down_bias.data() + D);
      }
      w.put(P + "experts.gate_up_proj_bias", {E, 2 * I}, gub, s.dtype);
      w.put(P + "experts.down_proj_bias", {E, D}, db, s.dtype);
      if (v == "mxfp4") {
        // Output-major logical tensors: gate_up [E, 2I, D] with gate = even rows, down [E, D, I].
        std::vector<float> gu, dn;
        for (auto& x : L.experts) {
          for (int j = 0; j < I; ++j) {
            gu.insert(gu.end(), x.gate.row(j).data(), x.gate.row(j).data() + D);
            gu.insert(gu.end(), x.up.row(j).data(), x.up.row(j).data() + D);
          }
          auto c = flat(x.down);
          dn.insert(dn.end(), c.begin(), c.end());
        }
        w.put_mxfp4(P + "experts.gate_up_proj", E, 2 * I, D, gu);
        w.put_mxfp4(P + "experts.down_proj", E, D, I, dn);
        for (int e = 0; e < s.experts; ++e) {
          auto& x = L.experts[static_cast<size_t>(e)];
          for (int j = 0; j < I; ++j)
            for (int h = 0; h < D; ++h) {
              x.gate(j, h) = gu[static_cast<size_t>((e * 2 * I + 2 * j) * D + h)];
              x.up(j, h) = gu[static_cast<size_t>((e * 2 * I + 2 * j + 1) * D + h)];
              x.down(h, j) = dn[static_cast<size_t>((e * D + h) * I + j)];
            }
        }
      } else {
        // Input-major parameters: gate_up [E, D, 2I] interleaved columns, down [E, I, D].
        std::vector<float> gu(static_cast<size_t>(E * D * 2 * I)),
            dn(static_cast<size_t>(E * I * D));
        for (int e = 0; e < E; ++e) {
          auto& x = L.experts[static_cast<size_t>(e)];
          for (int h = 0; h < D; ++h)
            for (int j = 0; j < I; ++j) {
              gu[static_cast<size_t>((e * D + h) * 2 * I + 2 * j)] = x.gate(j, h);
              gu[static_cast<size_t>((e * D + h) * 2 * I + 2 * j + 1)] = x.up(j, h);
              dn[static_cast<size_t>((e * I + j) * D + h)] = x.down(h, j);
            }
        }
        w.put(P + "experts.gate_up_proj", {E, D, 2 * I}, gu, s.dtype);
        w.put(P + "experts.down_proj", {E, I, D}, dn, s.dtype);
      }
    } else if (f == "granitemoe" || f == "jetmoe") {
      std::string P = base + (f == "granitemoe" ? "block_sparse_moe." : "mlp.");
      w.put(P + "router.layer.weight", L.router);
      std::vector<float> in, outw;
      for (auto& x : L.experts) {
        auto a = flat(x.gate), b = flat(x.up), c = flat(x.down);
        in.insert(in.end(), a.begin(), a.end());
        in.insert(in.end(), b.begin(), b.end());
        outw.insert(outw.end(), c.begin(), c.end());
      }
      w.put(P + "input_linear.weight", {E, 2 * I, D}, in, s.dtype);
      w.put(P + "output_linear.weight", {E, D, I}, outw, s.dtype);
      if (f == "jetmoe") {
        L.moe_bias = rvec(s.d_model, 0.1f);
        w.put(P + "bias", L.moe_bias, s.dtype);
      }
    } else if (f == "dbrx") {
      std::string P = base + "ffn.";
      w.put(P + "router.layer.weight", L.router);
      std::vector<float> w1, v1, w2;
      for (auto& x : L.experts) {
        auto a = flat(x.gate), b = flat(x.up);
        MatrixF dt = x.down.transpose(); // [I, D]: h @ w2[e]
        auto c = flat(dt);
        w1.insert(w1.end(), a.begin(), a.end());
        v1.insert(v1.end(), b.begin(), b.end());
        w2.insert(w2.end(), c.begin(), c.end());
      }
      w.put(P + "experts.mlp.w1", {E * I, D}, w1, s.dtype);
      w.put(P + "experts.mlp.v1", {E * I, D}, v1, s.dtype);
      w.put(P + "experts.mlp.w2", {E * I, D}, w2, s.dtype);
    } else if (f == "llama4") {
      std::string P = base + "feed_forward.";
      w.put(P + "router.weight", L.router);
      std::vector<float> gu(static_cast<size_t>(E * D * 2 * I)), dn(static_cast<size_t>(E * I * D));
      for (int e = 0; e < E; ++e) {
        auto& x = L.experts[static_cast<size_t>(e)];
        for (int h = 0; h < D; ++h)
          for (int j = 0; j < I; ++j) {
            gu[static_cast<size_t>((e * D + h) * 2 * I + j)] = x.gate(j, h);
            gu[static_cast<size_t>((e * D + h) * 2 * I + I + j)] = x.up(j, h);
            dn[static_cast<size_t>((e * I + j) * D + h)] = x.down(h, j);
          }
      }
      w.put(P + "experts.gate_up_proj", {E, D, 2 * I}, gu, s.dtype);
      w.put(P + "experts.down_proj", {E, I, D}, dn, s.dtype);
    } else {
      throw_internal_error("write_family_checkpoint: unknown family/variant " + f + "/" + v);
    }

    if (f == "deepseek_v3") {
      L.router_bias = rvec(s.experts, 0.1f);
      w.put(base + "mlp.gate.e_score_correction_bias", L.router_bias, io::DType::F32);
    }
    if (s.shared_width) {
      std::string sp = f == "llama4"               ? base + "feed_forward.shared_expert."
                       : f.starts_with("deepseek") ? base + "mlp.shared_experts."
                                                   : base + "mlp.shared_expert.";
      L.shared_gate_proj = rnd(s.shared_width, s.d_model, 0.3f);
      L.shared_up = rnd(s.shared_width, s.d_model, 0.3f);
      L.shared_down = rnd(s.d_model, s.shared_width, 0.3f);
      if (fp8) {
        w.put_fp8(sp + "gate_proj.weight", L.shared_gate_proj);
        w.put_fp8(sp + "up_proj.weight", L.shared_up);
        w.put_fp8(sp + "down_proj.weight", L.shared_down);
      } else {
        w.put(sp + "gate_proj.weight", L.shared_gate_proj);
        w.put(sp + "up_proj.weight", L.shared_up);
        w.put(sp + "down_proj.weight", L.shared_down);
      }
      if (f == "qwen2_moe") {
        L.shared_gate = rnd(1, s.d_model, 0.3f);
        w.put(base + "mlp.shared_expert_gate.weight", L.shared_gate);
      }
    }
    out.layers[l] = std::move(L);
  }

  out.embeddings = rnd(s.vocab, s.d_model, 1.0f);
  // Embeddings sit beside the layers: "<stem>embed_tokens.weight" (DBRX: transformer.wte).
  std::string stem = prefix.substr(0, prefix.size() - std::string("layers.").size());
  w.put(f == "dbrx" ? "transformer.wte.weight" : stem + "embed_tokens.weight", out.embeddings);
  w.write(dir);
  out.tensor_names = w.names;
  if (s.write_config) {
    out.config = family_config(s);
    std::ofstream(dir / "config.json") << out.config.dump(1);
  }
  return out;
}

} // namespace routerscope::test
