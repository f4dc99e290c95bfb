#pragma once
// Opening a Hugging Face MoE checkpoint lazily: config.json (when present) plus safetensors
// headers. Family and layout come from the config (model_type and the family's keys), falling back
// to tensor names and shapes. Weights are decoded per expert on demand.
#include "core/model.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace routerscope::io {

// path: a checkpoint folder, a .safetensors file or a *.safetensors.index.json. config.json is read
// from the same folder when present. Throws BadInput naming the file and key/tensor on anything
// malformed, and "no MoE layer found in PATH" for a dense model.
std::unique_ptr<MoeModel> open_checkpoint(const std::filesystem::path& path);

// Where one MoE layer's router is stored, for tools that rewrite routers in place of a copy.
struct RouterLocation {
  int layer = 0;
  std::string tensor;               // its name in the checkpoint
  std::filesystem::path file;       // the .safetensors file holding it
  std::string dtype;                // as stored ("BF16", ...)
  std::uint64_t begin = 0, end = 0; // data_offsets, relative to the file's data buffer
};
// Router locations of every MoE layer of a model returned by open_checkpoint (BadInput for any
// other MoeModel, e.g. an in-memory one).
std::vector<RouterLocation> router_locations(const MoeModel& model);
// Every .safetensors file of a model returned by open_checkpoint, and its index (empty if none).
std::vector<std::filesystem::path> checkpoint_files(const MoeModel& model);

} // namespace routerscope::io
