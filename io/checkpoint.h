#pragma once
// Opening a Hugging Face MoE checkpoint lazily: config.json (when present) plus safetensors
// headers. Family and layout come from the config (model_type and the family's keys), falling back
// to tensor names and shapes. Weights are decoded per expert on demand.
#include "core/model.h"

#include <filesystem>
#include <memory>

namespace routerscope::io {

// path: a checkpoint folder, a .safetensors file or a *.safetensors.index.json. config.json is read
// from the same folder when present. Throws BadInput naming the file and key/tensor on anything
// malformed, and "no MoE layer found in PATH" for a dense model.
std::unique_ptr<MoeModel> open_checkpoint(const std::filesystem::path& path);

} // namespace routerscope::io
