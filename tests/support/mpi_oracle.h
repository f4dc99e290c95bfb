#pragma once
// The float64 MPI oracle every test compares with, written from the paper's formula (mpi.md)
// rather than from core/mpi: M_i = G_iᵀG_i is formed explicitly (core never does), then
// R′[i] = C·normalize(M_i^k R[i]) with k = power_steps and C = C′/√N for softmax scoring, 1 for
// sigmoid scoring; the ablations drop the power steps (NoPower) or the retraction (NoRetract).
#include "core/mpi.h"
#include "core/types.h"

#include <vector>

namespace routerscope::test {

// R′ [N, D] from the router r [N, D] and the direction operators g[i] [d, D].
MatrixD mpi_oracle(const MatrixD& r, const std::vector<MatrixD>& g, const MpiSettings& s);
MatrixD mpi_oracle(const MatrixF& r, const std::vector<MatrixF>& g, const MpiSettings& s);

} // namespace routerscope::test
