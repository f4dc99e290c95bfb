#pragma once
// The HDF5 file `routerscope route --out` writes: per-token routing of real hidden states and the
// MoE block output (dataset names are a contract, docs/FORMATS.md).
#include "core/routing.h"
#include "core/types.h"

#include <filesystem>
#include <string>

namespace routerscope::io {

struct RouteOutput {
  MatrixF logits;      // [T, E] router logits x·Rᵀ (+ gpt-oss logit bias)
  IndexMatrix experts; // [T, k] selected experts, in selection order
  MatrixF weights;     // [T, k] combine weights of those experts
  MatrixF output;      // [T, D] block output: routed + shared experts (+ block bias)
  VectorD load;        // [E] routed slots per expert
  std::string config;  // JSON text of the command's settings (root attribute `config`)
};

// Writes `out` to `path` (replaced only once complete): datasets logits (F32), experts (I32),
// weights (F32), output (F32), load (F64). Throws BadInput naming the path on failure.
void write_route_output(const std::filesystem::path& path, const RouteOutput& out);

} // namespace routerscope::io
