#include "core/model.h"

#include "core/error.h"

namespace routerscope {

std::string_view to_string(ExpertMatrix m) {
  switch (m) {
  case ExpertMatrix::Gate:
    return "gate";
  case ExpertMatrix::Up:
    return "up";
  case ExpertMatrix::Down:
    return "down";
  }
  return "gate";
}

ExpertMatrix parse_expert_matrix(std::string_view text) {
  if (text == "gate")
    return ExpertMatrix::Gate;
  if (text == "up")
    return ExpertMatrix::Up;
  if (text == "down")
    return ExpertMatrix::Down;
  throw_input_error("unknown expert matrix '" + std::string(text) + "': expected gate, up or down");
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
