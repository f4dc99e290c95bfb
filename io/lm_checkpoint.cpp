#include "io/lm_checkpoint.h"

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "io/tensor_decode.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace routerscope::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStateFile = "routerscope_state.safetensors";
constexpr const char* kStateKey = "routerscope_state";

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

nlohmann::json parse_config(const fs::path& path) {
  std::ifstream in(path);
  if (!in)
    throw_input_error(path.string() + ": no such file (expected a Mixtral checkpoint folder)");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw_input_error(path.string() + ": not valid JSON: " + e.what());
  }
}

} // namespace

std::string mixtral_config_json(const lm::LmConfig& c, const std::string& extra) {
  nlohmann::ordered_json j;
  j["architectures"] = {"MixtralForCausalLM"};
  j["model_type"] = "mixtral";
  j["vocab_size"] = c.vocab;
  j["hidden_size"] = c.d_model;
  j["intermediate_size"] = c.d_expert;
  j["num_hidden_layers"] = c.layers;
  j["num_attention_heads"] = c.heads;
  j["num_key_value_heads"] = c.heads;
  j["head_dim"] = c.head_dim();
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = c.ctx;
  j["initializer_range"] = c.init_std;
  j["rms_norm_eps"] = c.norm_eps;
  j["use_cache"] = true;
  j["tie_word_embeddings"] = false;
  j["rope_theta"] = c.rope_theta;
  j["sliding_window"] = nullptr;
  j["attention_dropout"] = 0.0;
  j["num_experts_per_tok"] = c.top_k;
  j["num_local_experts"] = c.experts;
  j["output_router_logits"] = false;
  j["router_aux_loss_coef"] = 0.01;
  j["router_jitter_noise"] = 0.0;
  j["bos_token_id"] = nullptr;
  j["eos_token_id"] = nullptr;
  j["torch_dtype"] = "float32";
  j["routerscope"] = nlohmann::ordered_json::parse(extra);
  return j.dump(2) + "\n";
}

lm::LmConfig read_mixtral_config(const fs::path& dir) {
  const fs::path path = dir / "config.json";
  const nlohmann::json j = parse_config(path);
  if (j.value("model_type", std::string()) != "mixtral")
    throw_input_error(path.string() + ": key model_type is " +
                      (j.contains("model_type") ? j["model_type"].dump() : std::string("absent")) +
                      ", expected \"mixtral\"");
  auto integer = [&](const char* key) -> int {
    if (!j.contains(key) || !j[key].is_number_integer())
      throw_input_error(path.string() + ": key " + key + " missing or not an integer");
    const auto v = j[key].get<std::int64_t>();
    if (v < 1 || v > (1 << 30))
      throw_input_error(path.string() + ": key " + key + " is " + std::to_string(v) +
                        ", expected a positive count");
    return int(v);
  };
  lm::LmConfig c;
  c.vocab = integer("vocab_size");
  c.d_model = integer("hidden_size");
  c.d_expert = integer("intermediate_size");
  c.layers = integer("num_hidden_layers");
  c.heads = integer("num_attention_heads");
  c.experts = integer("num_local_experts");
  c.top_k = integer("num_experts_per_tok");
  c.ctx = integer("max_position_embeddings");
  c.rope_theta = j.value("rope_theta", 1e6); // MixtralConfig's default
  c.norm_eps = j.value("rms_norm_eps", 1e-5);
  c.init_std = j.value("initializer_range", 0.02);
  if (c.d_model % c.heads)
    throw_input_error(path.string() + ": hidden_size " + std::to_string(c.d_model) +
                      " is not a multiple of num_attention_heads " + std::to_string(c.heads));
  if (j.contains("num_key_value_heads") && j["num_key_value_heads"] != c.heads)
    throw_input_error(path.string() + ": num_key_value_heads " + j["num_key_value_heads"].dump() +
                      " differs from num_attention_heads " + std::to_string(c.heads) +
                      " (grouped-query attention is not supported)");
  if (j.contains("head_dim") && !j["head_dim"].is_null() && j["head_dim"] != c.head_dim())
    throw_input_error(path.string() + ": head_dim " + j["head_dim"].dump() +
                      " differs from hidden_size / num_attention_heads = " +
                      std::to_string(c.head_dim()) + " (not supported)");
  if (c.top_k > c.experts)
    throw_input_error(path.string() + ": num_experts_per_tok " + std::to_string(c.top_k) +
                      " exceeds num_local_experts " + std::to_string(c.experts));
  return c;
}

std::string describe_difference(const lm::LmConfig& a, const lm::LmConfig& b) {
  std::string out;
  auto cmp = [&](const char* option, double x, double y) {
    if (x != y) {
      std::ostringstream line;
      line << (out.empty() ? "" : ", ") << option << " " << x << " vs " << y;
      out += line.str();
    }
  };
  cmp("--vocab", a.vocab, b.vocab);
  cmp("--d-model", a.d_model, b.d_model);
  cmp("--layers", a.layers, b.layers);
  cmp("--heads", a.heads, b.heads);
  cmp("--experts", a.experts, b.experts);
  cmp("--top-k", a.top_k, b.top_k);
  cmp("--d-expert", a.d_expert, b.d_expert);
  cmp("--ctx", a.ctx, b.ctx);
  cmp("rope_theta", a.rope_theta, b.rope_theta);
  cmp("rms_norm_eps", a.norm_eps, b.norm_eps);
  return out;
}

void save_lm_checkpoint(const fs::path& dir, const LmCheckpoint& c) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw_input_error("--save " + dir.string() + ": cannot create the folder (" + ec.message() +
                      ")");
  SafetensorsWriter model;
  model.set_metadata("format", "pt");
  const auto data = c.params.data();
  for (const auto& t : c.params.tensors())
    model.add(t.name, DType::F32, t.shape, data.subspan(t.offset, t.size));
  model.write(dir / "model.safetensors");
  if (!c.state.empty()) {
    SafetensorsWriter state;
    state.set_metadata(kStateKey, c.state_metadata);
    for (const auto& [name, m] : c.state)
      state.add(name, DType::F32, {m.rows(), m.cols()},
                std::span<const float>(m.data(), static_cast<std::size_t>(m.size())));
    state.write(dir / kStateFile);
  }
  const std::string config = mixtral_config_json(c.params.config(), c.config_extra);
  AtomicFile file(dir / "config.json");
  file.write(config.data(), config.size());
  file.commit();
  if (c.global_step >= 0) {
    const std::string state = nlohmann::json{{"global_step", c.global_step}}.dump(2) + "\n";
    AtomicFile trainer(dir / "trainer_state.json");
    trainer.write(state.data(), state.size());
    trainer.commit();
  }
}

LmCheckpoint load_lm_checkpoint(const fs::path& dir, bool with_state) {
  LmCheckpoint c;
  const lm::LmConfig config = read_mixtral_config(dir);
  c.params = lm::LmParams<float>(config);
  const TensorStore store = TensorStore::open(dir);
  const auto data = c.params.data();
  for (const auto& t : c.params.tensors()) {
    if (!store.contains(t.name))
      throw_input_error(dir.string() + ": tensor " + t.name + " not found (expected " +
                        shape_text(t.shape) + " for the architecture of config.json)");
    const auto& found = logical_shape(store, t.name);
    if (found != t.shape)
      throw_input_error(dir.string() + ": tensor " + t.name + " is " + shape_text(found) +
                        ", expected " + shape_text(t.shape) + " from config.json");
    const MatrixF m = read_matrix(store, t.name);
    std::copy(m.data(), m.data() + m.size(), data.begin() + std::ptrdiff_t(t.offset));
  }
  const nlohmann::json j = parse_config(dir / "config.json");
  if (j.contains("routerscope"))
    c.config_extra = j["routerscope"].dump();
  if (with_state) {
    const fs::path state_path = dir / kStateFile;
    if (!fs::exists(state_path))
      throw_input_error(state_path.string() + ": no such file (a --resume folder is one that "
                                              "`routerscope pretrain --save` wrote)");
    const auto file = SafetensorsFile::open(state_path);
    auto meta = file->metadata().find(kStateKey);
    if (meta == file->metadata().end())
      throw_input_error(state_path.string() + ": metadata key " + kStateKey + " missing");
    c.state_metadata = meta->second;
    const TensorStore state = TensorStore::open(state_path);
    for (const auto& name : state.names())
      c.state[name] = read_matrix(state, name);
  }
  return c;
}

LmCheckpoint variant_checkpoint(const lm::LmParams<float>& routing, const lm::LmVariantState& s,
                                int step, const std::string& metadata) {
  LmCheckpoint c;
  c.params = routing;
  lm::LmParams<float> stored(routing.config());
  if (s.params.size() != stored.buffer().size() || s.adam_m.size() != s.params.size() ||
      s.adam_v.size() != s.params.size())
    throw_internal_error("variant_checkpoint: state of " + s.name + " does not fit the model");
  stored.buffer() = s.params;
  for (int l = 0; l < routing.config().layers; ++l)
    c.state["raw_router." + std::to_string(l)] =
        stored.mat(stored.slots().layers[std::size_t(l)].gate);
  auto row = [](const std::vector<float>& x) {
    return MatrixF(Eigen::Map<const MatrixF>(x.data(), 1, Eigen::Index(x.size())));
  };
  c.state["adam_m"] = row(s.adam_m);
  c.state["adam_v"] = row(s.adam_v);
  nlohmann::json meta = nlohmann::json::parse(metadata);
  meta["step"] = step;
  meta["variant"] = s.name;
  c.state_metadata = meta.dump();
  c.config_extra = nlohmann::json{{"variant", s.name}, {"step", step}}.dump();
  c.global_step = step;
  return c;
}

lm::LmVariantState variant_state(const LmCheckpoint& c, const std::string& name,
                                 const fs::path& dir) {
  lm::LmVariantState s;
  s.name = name;
  lm::LmParams<float> stored = c.params;
  const lm::LmSlots& slots = stored.slots();
  auto tensor = [&](const std::string& key, Eigen::Index rows,
                    Eigen::Index cols) -> const MatrixF& {
    auto it = c.state.find(key);
    if (it == c.state.end() || it->second.rows() != rows || it->second.cols() != cols)
      throw_input_error(dir.string() + ": state tensor " + key + " missing or not [" +
                        std::to_string(rows) + ", " + std::to_string(cols) + "]");
    return it->second;
  };
  const auto& config = stored.config();
  for (int l = 0; l < config.layers; ++l)
    stored.mat(slots.layers[std::size_t(l)].gate) =
        tensor("raw_router." + std::to_string(l), config.experts, config.d_model);
  s.params = stored.buffer();
  const auto p = Eigen::Index(s.params.size());
  const MatrixF& m = tensor("adam_m", 1, p);
  const MatrixF& v = tensor("adam_v", 1, p);
  s.adam_m.assign(m.data(), m.data() + p);
  s.adam_v.assign(v.data(), v.data() + p);
  return s;
}

} // namespace routerscope::io
