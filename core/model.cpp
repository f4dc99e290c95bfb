#include "core/model.h"

#include "core/enum_names.h"
#include "core/error.h"

namespace routerscope {

namespace {
constexpr NameTable<ExpertMatrix, 3> kMatrixNames{{
    {ExpertMatrix::Gate, "gate"},
    {ExpertMatrix::Up, "up"},
    {ExpertMatrix::Down, "down"},
}};
} // namespace

std::string_view to_string(ExpertMatrix m) {
  return name_of(kMatrixNames, m);
}

ExpertMatrix parse_expert_matrix(std::string_view text) {
  return parse_name(kMatrixNames, text, "expert matrix");
}

const LayerInfo& ModelInfo::layer(int index) const {
  for (const auto& l : layers)
    if (l.layer == index)
      return l;
  throw_input_error(path + ": no decoder layer " + std::to_string(index) + " (the model has " +
                    std::to_string(layers.size()) + " layers)");
}

const LayerInfo& ModelInfo::moe_layer(int index) const {
  const LayerInfo& l = layer(index);
  if (!l.moe)
    throw_input_error(path + ": layer " + std::to_string(index) + " is not an MoE layer");
  return l;
}

std::vector<int> ModelInfo::moe_layers() const {
  std::vector<int> out;
  for (const auto& l : layers)
    if (l.moe)
      out.push_back(l.layer);
  return out;
}

MatrixF direction_operator(const MoeModel& model, int layer, int expert, ExpertMatrix m) {
  MatrixF w = model.expert_weight(layer, expert, m);
  if (m == ExpertMatrix::Down)
    return w.transpose();
  return w;
}

} // namespace routerscope
