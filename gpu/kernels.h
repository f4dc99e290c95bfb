#pragma once
// Launchers of the backend's own kernels (gpu/kernels.cu); one thread block per expert, `batch`
// experts. Pointers are device pointers; blocks are column-major [D, b] with stride D·b. Launch
// errors throw; execution errors surface at the next checked synchronising call.

namespace routerscope::gpu {

// Modified Gram–Schmidt (twice) on each expert's b columns of z, in place; a vanishing column
// stays zero.
void launch_orthonormalize(float* z, int d, int b, int batch);
// residual[2e + j] = ‖z_j − θ_j v_j‖ for the first two columns j of expert e (θ [batch, b]).
void launch_residual(const float* z, const float* v, const double* theta, int d, int b,
                     double* residual, int batch);
// v_e ← v_e/‖v_e‖ and log_scale[e] += log ‖v_e‖ (v_e of length d, stride d); zero vectors stay.
void launch_rescale(float* v, int d, double* log_scale, int batch);
// pre_norm[e] = ‖v_e‖·exp(log_scale[e]); out_e = c·v_e/‖v_e‖ (retract) or v_e.
void launch_retract(const float* v, int d, const double* log_scale, double c, bool retract,
                    float* out, double* pre_norm, int batch);

} // namespace routerscope::gpu
