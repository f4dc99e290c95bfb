#include "io/checkpoint.h"

#include "core/error.h"
#include "io/layout_rules.h"
#include "io/tensor_decode.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace routerscope::io {

namespace {

namespace fs = std::filesystem;

// A lazily decoded Hugging Face checkpoint: the plan names the tensors, every accessor decodes one
// slice from the memory map.
class CheckpointModel final : public MoeModel {
public:
  CheckpointModel(TensorStore store, CheckpointPlan plan)
      : store_(std::move(store)), plan_(std::move(plan)) {}

  const ModelInfo& info() const override { return plan_.info; }
  const TensorStore& store() const { return store_; }
  const CheckpointPlan& plan() const { return plan_; }

  MatrixF router(int layer) const override { return read_matrix(store_, moe(layer).router); }

  VectorF router_bias(int layer) const override {
    const LayerPlan& lp = moe(layer);
    if (lp.router_bias.empty())
      return {};
    return as_vector(read_matrix(store_, lp.router_bias));
  }

  MatrixF expert_weight(int layer, int expert, ExpertMatrix m) const override {
    const LayerPlan& lp = moe(layer);
    check_expert(layer, expert);
    return read_source(source(lp, m), expert);
  }

  VectorF expert_bias(int layer, int expert, ExpertMatrix m) const override {
    const LayerPlan& lp = moe(layer);
    check_expert(layer, expert);
    const BiasSource& b = m == ExpertMatrix::Gate ? lp.gate_bias
                          : m == ExpertMatrix::Up ? lp.up_bias
                                                  : lp.down_bias;
    if (b.name.empty())
      return {};
    SliceSpec row;
    row.row_begin = expert;
    row.row_count = 1;
    MatrixF all = read_matrix(store_, b.name, row);
    VectorF out(b.count);
    for (std::int64_t j = 0; j < b.count; ++j)
      out(j) = all(0, b.begin + j * b.step);
    return out;
  }

  MatrixF shared_weight(int layer, ExpertMatrix m) const override {
    const LayerPlan& lp = moe(layer);
    const std::string& name = m == ExpertMatrix::Gate ? lp.shared_gate_proj
                              : m == ExpertMatrix::Up ? lp.shared_up_proj
                                                      : lp.shared_down_proj;
    if (name.empty())
      return {};
    return read_matrix(store_, name);
  }

  MatrixF shared_gate(int layer) const override {
    const LayerPlan& lp = moe(layer);
    if (lp.shared_gate.empty())
      return {};
    return read_matrix(store_, lp.shared_gate);
  }

  MatrixF embeddings() const override {
    if (plan_.embeddings.empty())
      return {};
    return read_matrix(store_, plan_.embeddings);
  }

  VectorF pre_moe_norm(int layer) const override {
    const LayerPlan& lp = any(layer);
    if (lp.norm.empty())
      return {};
    return as_vector(read_matrix(store_, lp.norm));
  }

  VectorF pre_moe_norm_bias(int layer) const override {
    const LayerPlan& lp = any(layer);
    if (lp.norm_bias.empty())
      return {};
    return as_vector(read_matrix(store_, lp.norm_bias));
  }

  VectorF moe_output_bias(int layer) const override {
    const LayerPlan& lp = moe(layer);
    if (lp.output_bias.empty())
      return {};
    return as_vector(read_matrix(store_, lp.output_bias));
  }

  std::string router_tensor(int layer) const override { return moe(layer).router; }

  std::string expert_tensor(int layer, int expert, ExpertMatrix m) const override {
    const MatrixSource& s = source(moe(layer), m);
    const std::string name = s.tensor_name(expert);
    if (s.index == MatrixSource::Index::Lead)
      return name + "[" + std::to_string(expert) + "]";
    if (s.index == MatrixSource::Index::RowBlock)
      return name + " rows " + std::to_string(std::int64_t(expert) * s.block) + ".." +
             std::to_string(std::int64_t(expert + 1) * s.block - 1);
    return name;
  }

private:
  static VectorF as_vector(const MatrixF& m) {
    return Eigen::Map<const VectorF>(m.data(), m.size());
  }

  const LayerPlan& any(int layer) const {
    auto it = plan_.layers.find(layer);
    if (it == plan_.layers.end())
      plan_.info.layer(layer); // throws BadInput naming the layer count
    return it->second;
  }

  const LayerPlan& moe(int layer) const {
    const LayerPlan& lp = any(layer);
    if (!lp.moe)
      throw_input_error(plan_.info.path + ": layer " + std::to_string(layer) +
                        " is a dense layer (MoE layers: " + moe_list() + ")");
    return lp;
  }

  std::string moe_list() const {
    std::string out;
    for (int l : plan_.info.moe_layers())
      out += (out.empty() ? "" : ", ") + std::to_string(l);
    return out;
  }

  void check_expert(int layer, int expert) const {
    int n = plan_.info.layer(layer).experts;
    if (expert < 0 || expert >= n)
      throw_input_error(plan_.info.path + ": layer " + std::to_string(layer) + " has " +
                        std::to_string(n) + " experts, expert " + std::to_string(expert) +
                        " does not exist");
  }

  static const MatrixSource& source(const LayerPlan& lp, ExpertMatrix m) {
    return m == ExpertMatrix::Gate ? lp.gate : m == ExpertMatrix::Up ? lp.up : lp.down;
  }

  // One expert's matrix in Linear orientation [out, in].
  MatrixF read_source(const MatrixSource& s, int expert) const {
    SliceSpec spec;
    std::int64_t first_row = 0;
    if (s.index == MatrixSource::Index::Lead)
      spec.lead = expert;
    else if (s.index == MatrixSource::Index::RowBlock)
      first_row = static_cast<std::int64_t>(expert) * s.block;
    const std::string name = s.tensor_name(expert);
    if (!s.input_major) {
      spec.row_begin = first_row + s.begin;
      spec.row_count = s.count;
      spec.row_step = s.step;
      return read_matrix(store_, name, spec);
    }
    spec.row_begin = first_row;
    spec.row_count = s.index == MatrixSource::Index::RowBlock ? s.block : -1;
    MatrixF stored = read_matrix(store_, name, spec); // [in, out_total]
    MatrixF out(s.count, stored.rows());
    for (std::int64_t j = 0; j < s.count; ++j)
      out.row(j) = stored.col(s.begin + j * s.step).transpose();
    return out;
  }

  TensorStore store_;
  CheckpointPlan plan_;
};

} // namespace

std::unique_ptr<MoeModel> open_checkpoint(const std::filesystem::path& path) {
  TensorStore store = TensorStore::open(path);
  fs::path config_path = store.root() / "config.json";
  nlohmann::json config;
  bool has_config = fs::is_regular_file(config_path);
  if (has_config) {
    std::ifstream in(config_path);
    if (!in)
      throw_input_error("cannot read " + config_path.string());
    try {
      config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw_input_error(config_path.string() + ": not valid JSON (" + e.what() + ")");
    }
  }
  CheckpointPlan plan =
      plan_checkpoint(store, has_config ? &config : nullptr, config_path.string(), path.string());
  return std::make_unique<CheckpointModel>(std::move(store), std::move(plan));
}

namespace {
const CheckpointModel& as_checkpoint(const MoeModel& model) {
  const auto* c = dynamic_cast<const CheckpointModel*>(&model);
  if (!c)
    throw_input_error(model.info().path + " is not a checkpoint opened from safetensors files");
  return *c;
}
} // namespace

std::vector<RouterLocation> router_locations(const MoeModel& model) {
  const CheckpointModel& c = as_checkpoint(model);
  std::vector<RouterLocation> out;
  for (const auto& [layer, lp] : c.plan().layers)
    if (lp.moe) {
      const TensorInfo& t = c.store().info(lp.router);
      out.push_back({layer, lp.router, c.store().file_of(lp.router),
                     std::string(dtype_name(t.dtype)), t.begin, t.end});
    }
  return out;
}

std::vector<std::filesystem::path> checkpoint_files(const MoeModel& model) {
  const CheckpointModel& c = as_checkpoint(model);
  std::vector<std::filesystem::path> files;
  for (const auto& name : c.store().names()) {
    const auto& f = c.store().file_of(name);
    if (std::find(files.begin(), files.end(), f) == files.end())
      files.push_back(f);
  }
  return files;
}

} // namespace routerscope::io
