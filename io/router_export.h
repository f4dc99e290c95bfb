#pragma once
// Writes a checkpoint folder whose routers are MPI routers, R′ = C·normalize((GᵀG)^k R) computed
// once "at load time" (mpi.md), for any standard safetensors loader: same tensor names, shapes,
// dtypes and headers; only the router bytes differ.
#include "core/model.h"
#include "core/mpi.h"
#include "core/progress.h"

#include <filesystem>
#include <string>
#include <vector>

namespace routerscope::io {

struct RouterExportOptions {
  MpiSettings mpi;             // matrix, C′, power steps, ablation
  bool copy_unchanged = false; // copy files without routers instead of symlinking them
};

struct RouterExportReport {
  std::vector<std::string> routers;               // tensors rewritten
  std::vector<std::filesystem::path> rewritten;   // files copied with new router bytes
  std::vector<std::filesystem::path> linked;      // files referenced (symlinks) or copied as-is
  std::vector<std::filesystem::path> other_files; // config.json, index, tokenizer… copied
};

// `model` must come from open_checkpoint(`source`). `out_dir` must not be the source folder.
// Files holding routers are streamed to a temporary name, their router byte ranges overwritten,
// then renamed; every other file is symlinked (or copied); small side files are copied. One expert
// is decoded at a time. Writes routerscope_export.json with the settings. Throws BadInput when a
// router's dtype cannot be encoded or R′ is undefined (router row in the null space of GᵀG).
RouterExportReport export_mpi_routers(const MoeModel& model, const std::filesystem::path& out_dir,
                                      const RouterExportOptions& options,
                                      const Progress& progress = {});

} // namespace routerscope::io
