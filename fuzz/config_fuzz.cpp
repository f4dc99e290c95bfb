// Fuzz target: config.json layout planning. The input is the config.json of each of the tiny real
// checkpoints in tests/data/hf-tiny (Mixtral, Qwen2-MoE layer 0, DeepSeek-V2), opened as the CLI
// opens a checkpoint folder: family, layout, MoE layers, routing rule, shapes against the tensors.
#include "core/model.h"
#include "fuzz/fuzz_support.h"
#include "io/checkpoint.h"

#include <filesystem>
#include <vector>

using namespace routerscope;
namespace fs = std::filesystem;

namespace {

const std::vector<fs::path>& folders() {
  static const std::vector<fs::path> out = [] {
    std::vector<fs::path> f;
    for (const char* name : {"mixtral_classic", "qwen2_moe_layer0", "deepseek_full"}) {
      const fs::path dir = fuzz::scratch() / name;
      fs::create_directories(dir);
      fs::copy_file(fs::path(ROUTERSCOPE_FUZZ_DATA_DIR) / "hf-tiny" /
                        (std::string(name) + ".safetensors"),
                    dir / "model.safetensors", fs::copy_options::overwrite_existing);
      f.push_back(dir);
    }
    return f;
  }();
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (const fs::path& dir : folders()) {
    fuzz::write_file(dir / "config.json", data, size);
    fuzz::run_one([&] {
      const auto model = io::open_checkpoint(dir);
      const ModelInfo& info = model->info();
      for (int layer : info.moe_layers()) {
        (void)info.layer(layer);
        model->router(layer);
      }
    });
  }
  return 0;
}
