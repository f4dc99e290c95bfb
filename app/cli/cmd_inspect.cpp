// routerscope inspect PATH [--json]: the structure of a checkpoint, from headers and config only.
#include "app/cli/command_line.h"
#include "core/number_format.h"
#include "io/checkpoint.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace routerscope::cli {

namespace {

int run_inspect(const Argv& argv) {
  CommandLine cl("inspect", "Family, layout, dtypes and per-layer MoE structure of a checkpoint, "
                            "from headers and config only.");
  std::string path;
  bool json = false;
  cl.add_checkpoint(path);
  cl.add_json(json);
  if (auto rc = cl.parse(argv))
    return *rc;
  auto model = io::open_checkpoint(cl.checkpoint(path));
  const ModelInfo& info = model->info();
  if (json) {
    nlohmann::ordered_json j = versioned_json();
    j["path"] = info.path;
    j["family"] = info.family;
    j["layout"] = info.layout;
    j["d_model"] = info.d_model;
    j["dtypes"] = info.dtypes;
    j["bytes_on_disk"] = info.bytes_on_disk;
    j["has_config"] = info.has_config;
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : info.layers) {
      nlohmann::ordered_json lj;
      lj["layer"] = l.layer;
      lj["moe"] = l.moe;
      lj["experts"] = l.experts;
      lj["top_k"] = l.top_k ? nlohmann::ordered_json(*l.top_k) : nlohmann::ordered_json(nullptr);
      lj["d_expert"] = l.d_expert;
      lj["shared_experts"] = l.shared_experts;
      j["layers"].push_back(lj);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::string dtypes;
  for (const auto& d : info.dtypes)
    dtypes += (dtypes.empty() ? "" : ", ") + d;
  auto moe = info.moe_layers();
  std::printf("%s\n  family    %s\n  layout    %s\n  dtypes    %s\n  d_model   %d\n"
              "  layers    %zu (%zu MoE)\n  on disk   %s%s\n\n",
              info.path.c_str(), info.family.c_str(), info.layout.c_str(), dtypes.c_str(),
              info.d_model, info.layers.size(), moe.size(),
              binary_bytes(info.bytes_on_disk).c_str(),
              info.has_config ? "" : "\n  config    none (structure inferred from tensor names)");
  std::printf("  %5s  %-5s  %7s  %5s  %8s  %6s\n", "layer", "kind", "experts", "top-k", "d_expert",
              "shared");
  for (const auto& l : info.layers) {
    if (!l.moe) {
      std::printf("  %5d  %-5s  %7s  %5s  %8s  %6s\n", l.layer, "dense", "-", "-", "-", "-");
      continue;
    }
    std::string k = l.top_k ? std::to_string(*l.top_k) : "?";
    std::printf("  %5d  %-5s  %7d  %5s  %8d  %6d\n", l.layer, "moe", l.experts, k.c_str(),
                l.d_expert, l.shared_experts);
  }
  return 0;
}

const Registrar kRegistrar({"inspect", "family, layout, dtypes and per-layer MoE structure",
                            run_inspect});

} // namespace
} // namespace routerscope::cli
