#pragma once
// Load-balance metrics of a routing decision (DESIGN.md principle 2: one definition each).
// Loads are counts of routed slots per expert (a token routed to k experts adds 1 to each).
// Every metric of loads with a non-finite entry is NaN.
#include "core/routing.h"
#include "core/types.h"

namespace routerscope {

// Load_i = number of (token, slot) pairs routed to expert i; experts [T, k] -> [N].
VectorD expert_loads(const IndexMatrix& experts, int n_experts);

// MaxVio = (max_i Load_i − L̄)/L̄ with L̄ = Σ Load / N = T·k/N (DeepSeek, arXiv 2408.15664).
double max_vio(const VectorD& loads);

// Load imbalance max_i Load_i / L̄ (OLMo-core).
double load_imbalance(const VectorD& loads);

// Coefficient of variation std(Load)/mean(Load), population std (divide by N, not N−1).
double load_cv(const VectorD& loads);

// Normalised routing entropy H(p)/log N with p_i = Load_i/Σ Load and 0·log 0 = 0; 1 = uniform.
double load_entropy(const VectorD& loads);

// Dead experts: the number with zero load in the window.
int dead_experts(const VectorD& loads);

// Switch/OLMoE LB loss α·N·Σ_i f_i·P_i, f_i = Load_i/(T·k), P_i = mean_t probs[t, i]
// (Fedus et al. 2021, arXiv 2101.03961); probs [T, N].
double switch_lb_loss(const VectorD& loads, const MatrixF& probs, double alpha = 0.01);

// Router z-loss mean_t (logsumexp_i logits[t, i])² (ST-MoE, arXiv 2202.08906); logits [T, N].
double router_z_loss(const MatrixF& logits);

} // namespace routerscope
