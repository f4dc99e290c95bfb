#pragma once
// The seam of the language model's heavy arithmetic (DESIGN.md "ComputeBackend"): every Linear
// product of core/lm goes through these three functions, so a GPU implementation can take them
// over without touching the model code. CPU: Eigen products on row blocks, `threads` at a time.
#include "core/lm/lm_model.h"

namespace routerscope::lm {

template <typename S> using CRef = Eigen::Ref<const Mat<S>>;

// y [n, out] = x [n, in] · wᵀ, w stored [out, in].
template <typename S> Mat<S> linear_forward(CRef<S> x, CRef<S> w, int threads);
// dx [n, in] = dy [n, out] · w, w stored [out, in].
template <typename S> Mat<S> linear_input_grad(CRef<S> dy, CRef<S> w, int threads);
// dw [out, in] += dyᵀ [out, n] · x [n, in].
template <typename S> void linear_weight_grad(CRef<S> dy, CRef<S> x, MatMap<S> dw, int threads);

} // namespace routerscope::lm
