#include "core/routing.h"

#include "core/error.h"
#include "core/parallel.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

namespace routerscope {

namespace {

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

// Indices of the k largest keys, best first; equal keys: the lower index wins. NaN keys rank
// last (a NaN in the comparison would break the sort's ordering contract).
std::vector<int> top_k_indices(const std::vector<double>& key, int k) {
  std::vector<int> idx(key.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto rank = [&](int i) {
    const double v = key[size_t(i)];
    return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) {
    if (rank(a) != rank(b))
      return rank(a) > rank(b);
    return a < b;
  });
  idx.resize(size_t(k));
  return idx;
}

// Masks every expert outside the topk_group best groups to 0, as transformers does before the
// top-k (DeepseekV3TopkRouter.get_topk_indices, DeepseekV2Moe group_limited_greedy: masked_fill
// 0.0). With DeepSeek-V3's selection bias an in-group key can be negative, so a masked expert can
// still be selected; its weight is then its own (unbiased) score.
void limit_groups(std::vector<double>& key, const RoutingRule& rule) {
  const int n = static_cast<int>(key.size());
  if (rule.n_group <= 1)
    return;
  if (n % rule.n_group != 0 || rule.topk_group < 1 || rule.topk_group > rule.n_group)
    throw_input_error("group-limited routing: " + std::to_string(n) + " experts, n_group " +
                      std::to_string(rule.n_group) + ", topk_group " +
                      std::to_string(rule.topk_group) +
                      ": expected N divisible by n_group and 1 <= topk_group <= n_group");
  const int size = n / rule.n_group;
  // DeepSeek-V3 (sigmoid, noaux_tc) scores a group by its two best experts, V2 by its best.
  const int best = rule.scoring == Scoring::Sigmoid ? std::min(2, size) : 1;
  std::vector<double> group_score(size_t(rule.n_group));
  for (int gi = 0; gi < rule.n_group; ++gi) {
    std::vector<double> members(key.begin() + gi * size, key.begin() + (gi + 1) * size);
    std::partial_sort(members.begin(), members.begin() + best, members.end(),
                      std::greater<double>());
    group_score[size_t(gi)] = std::accumulate(members.begin(), members.begin() + best, 0.0);
  }
  std::vector<int> keep = top_k_indices(group_score, rule.topk_group);
  std::vector<bool> kept(size_t(rule.n_group), false);
  for (int gi : keep)
    kept[size_t(gi)] = true;
  for (int e = 0; e < n; ++e)
    if (!kept[size_t(e / size)])
      key[size_t(e)] = 0.0;
}

// Row-wise softmax of a [T, N] matrix in double, returned as float.
MatrixF softmax_rows(const MatrixF& z) {
  MatrixF out(z.rows(), z.cols());
  for (Eigen::Index t = 0; t < z.rows(); ++t) {
    Eigen::VectorXd v = z.row(t).transpose().cast<double>();
    double m = v.maxCoeff();
    Eigen::VectorXd e = (v.array() - m).exp();
    out.row(t) = (e / e.sum()).transpose().cast<float>();
  }
  return out;
}

// dL/dz of p = softmax(z) given p [N] and dL/dp [N]: p ⊙ (dp − p·dp).
Eigen::VectorXd softmax_backward(const Eigen::Ref<const Eigen::RowVectorXf>& probs,
                                 const Eigen::Ref<const Eigen::RowVectorXf>& grad) {
  const Eigen::VectorXd p = probs.transpose().cast<double>();
  const Eigen::VectorXd dp = grad.transpose().cast<double>();
  return p.cwiseProduct((dp.array() - p.dot(dp)).matrix());
}

// Phi-3.5-MoE's sparsemixer in evaluation mode (transformers phimoe `sparsemixer`, training
// False: no Gumbel sampling, no Heun multiplier). Slot 1 takes the best logit z_a; slot 2 the best
// of the others. A slot with chosen expert c keeps the experts e with
// (z_c − z_e) / max(|z_e|, z_c) <= 2·eps (all others, and for slot 2 the first choice, are masked
// to −∞) and its weight is the softmax over the kept logits, read at c. Returns that softmax as a
// distribution over all N experts (0 where masked); `excluded` is the first choice, or −1.
Eigen::VectorXd sparsemixer_gate(const Eigen::VectorXd& z, int chosen, int excluded, double eps) {
  const Eigen::Index n = z.size();
  const double top = z(chosen);
  Eigen::VectorXd p = Eigen::VectorXd::Zero(n);
  for (Eigen::Index e = 0; e < n; ++e) {
    const double factor = std::max(std::abs(z(e)), top);
    // NaN (0/0 when every logit is 0) is not "> 2·eps": the expert stays, as in torch.
    if (e != excluded && !((top - z(e)) / factor > 2 * eps))
      p(e) = std::exp(z(e) - top);
  }
  return p / p.sum();
}

// The sparsemixer's two choices for one token's logits: the best, then the best of the rest.
std::array<int, 2> sparsemixer_choices(const Eigen::VectorXd& z) {
  std::vector<double> key(z.data(), z.data() + z.size());
  std::vector<int> best = top_k_indices(key, 2);
  return {best[0], best[1]};
}

void check_rule(const RoutingRule& rule) {
  if (rule.sparsemixer && !(rule.jitter_eps >= 0))
    throw_input_error("routing: sparsemixer jitter eps must be >= 0, found " +
                      std::to_string(rule.jitter_eps));
  if (rule.renormalize && !(rule.renorm_p > 0))
    throw_input_error("routing: the renormalisation p-norm needs p > 0, found " +
                      std::to_string(rule.renorm_p));
}

// (Σ|w|^p)^(1/p) (torch.norm(w, p) in DbrxRouter); p = 1 is the plain sum of positive weights.
double p_norm(const std::vector<double>& w, double p) {
  double s = 0;
  for (double v : w)
    s += p == 1.0 ? std::abs(v) : std::pow(std::abs(v), p);
  return p == 1.0 ? s : std::pow(s, 1.0 / p);
}

// Sparsemixer routing of r.logits (already set): scores and probs are the softmax over all N
// (PhiMoE's load-balancing loss is Mixtral's), experts and weights from sparsemixer_gate.
Routing route_sparsemixer(Routing r, const RoutingRule& rule) {
  r.scores = softmax_rows(r.logits);
  r.probs = r.scores;
  const Eigen::Index tokens = r.logits.rows();
  r.experts.resize(tokens, 2);
  r.weights.resize(tokens, 2);
  for (Eigen::Index t = 0; t < tokens; ++t) {
    const Eigen::VectorXd z = r.logits.row(t).transpose().cast<double>();
    const std::array<int, 2> c = sparsemixer_choices(z);
    for (int j = 0; j < 2; ++j) {
      const Eigen::VectorXd p =
          sparsemixer_gate(z, c[size_t(j)], j == 0 ? -1 : c[0], rule.jitter_eps);
      r.experts(t, j) = c[size_t(j)];
      r.weights(t, j) = float(p(c[size_t(j)]) * rule.scaling);
    }
  }
  return r;
}

} // namespace

Routing route_tokens(const MatrixF& x, const MatrixF& router, const VectorF& bias,
                     const RoutingRule& rule, int k) {
  if (x.cols() != router.cols())
    throw_input_error("routing: tokens have width " + std::to_string(x.cols()) +
                      " but the router is [" + std::to_string(router.rows()) + ", " +
                      std::to_string(router.cols()) + "]");
  return route_logits(x * router.transpose(), bias, rule, k);
}

Routing route_logits(MatrixF logits, const VectorF& bias, const RoutingRule& rule, int k) {
  check_rule(rule);
  const int n = static_cast<int>(logits.cols());
  if (k < 1 || k > n)
    throw_input_error("routing: top-k " + std::to_string(k) + " outside [1, " + std::to_string(n) +
                      "]");
  const bool use_bias = rule.logit_bias || rule.selection_bias;
  if (use_bias && bias.size() != n)
    throw_input_error("routing: the rule needs a router bias of length " + std::to_string(n) +
                      ", found " + std::to_string(bias.size()));
  if (rule.sparsemixer && k != 2)
    throw_input_error("routing: Phi-3.5 sparsemixer routing selects exactly 2 experts (as "
                      "transformers' sparsemixer requires), found top-k " +
                      std::to_string(k));
  Routing r;
  r.logits = std::move(logits);
  if (rule.sparsemixer)
    return route_sparsemixer(std::move(r), rule);
  if (rule.logit_bias)
    r.logits.rowwise() += bias.transpose();
  if (rule.scoring == Scoring::Softmax) {
    r.scores = softmax_rows(r.logits);
    r.probs = r.scores;
  } else {
    r.scores = r.logits.unaryExpr([](float z) { return float(sigmoid(z)); });
    r.probs = r.scores;
    for (Eigen::Index t = 0; t < r.probs.rows(); ++t)
      r.probs.row(t) /= r.probs.row(t).sum();
  }
  const Eigen::Index tokens = r.logits.rows();
  r.experts.resize(tokens, k);
  r.weights.resize(tokens, k);
  const bool before = rule.order == GateOrder::SoftmaxTopk;
  std::vector<double> key(static_cast<size_t>(n));
  for (Eigen::Index t = 0; t < tokens; ++t) {
    for (int e = 0; e < n; ++e)
      key[size_t(e)] = (before ? r.scores(t, e) : r.logits(t, e)) +
                       (rule.selection_bias ? double(bias(e)) : 0.0);
    limit_groups(key, rule);
    std::vector<int> sel = top_k_indices(key, k);
    std::vector<double> w(static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) {
      int e = sel[size_t(j)];
      r.experts(t, j) = e;
      if (before || rule.scoring == Scoring::Sigmoid)
        w[size_t(j)] = before ? r.scores(t, e) : sigmoid(r.logits(t, e));
      else
        w[size_t(j)] = r.logits(t, e);
    }
    if (!before && rule.scoring == Scoring::Softmax) {
      double m = *std::max_element(w.begin(), w.end());
      for (auto& v : w)
        v = std::exp(v - m);
      double s = std::accumulate(w.begin(), w.end(), 0.0);
      for (auto& v : w)
        v /= s;
    } else if (rule.renormalize) {
      const double s = p_norm(w, rule.renorm_p);
      for (auto& v : w)
        v /= s;
    }
    for (int j = 0; j < k; ++j)
      r.weights(t, j) = float(w[size_t(j)] * rule.scaling);
  }
  return r;
}

MatrixF routing_backward(const Routing& routing, const RoutingRule& rule,
                         const MatrixF& grad_weights, const MatrixF& grad_probs) {
  const Eigen::Index tokens = routing.logits.rows(), n = routing.logits.cols();
  const Eigen::Index k = routing.experts.cols();
  const bool before = rule.order == GateOrder::SoftmaxTopk;
  const bool have_probs = grad_probs.size() > 0;
  MatrixF out = MatrixF::Zero(tokens, n);
  for (Eigen::Index t = 0; t < tokens; ++t) {
    Eigen::VectorXd dz = Eigen::VectorXd::Zero(n);
    if (rule.sparsemixer) {
      // Slot j's weight is softmax over its kept set K_j, read at its expert c_j (masks held
      // fixed, as transformers computes them under no_grad): ∂w_j/∂z = w_j·(e_{c_j} − p_j).
      const Eigen::VectorXd z = routing.logits.row(t).transpose().cast<double>();
      for (Eigen::Index j = 0; j < k; ++j) {
        const int c = routing.experts(t, j);
        const Eigen::VectorXd p =
            sparsemixer_gate(z, c, j == 0 ? -1 : routing.experts(t, 0), rule.jitter_eps);
        const double g = double(grad_weights(t, j)) * rule.scaling * p(c);
        dz -= g * p;
        dz(c) += g;
      }
    }
    if (rule.sparsemixer) {
      if (have_probs) // probs = softmax over all N
        dz += softmax_backward(routing.probs.row(t), grad_probs.row(t));
      out.row(t) = dz.transpose().cast<float>();
      continue;
    }
    // Weights of the selected experts before scaling, and their gradient.
    Eigen::VectorXd w(k), dw(k);
    for (Eigen::Index j = 0; j < k; ++j) {
      w(j) = routing.weights(t, j) / rule.scaling;
      dw(j) = grad_weights(t, j) * rule.scaling;
    }
    if (!before && rule.scoring == Scoring::Softmax) {
      // w = softmax(z_S): dz_S = w ⊙ (dw − w·dw).
      double dot = w.dot(dw);
      for (Eigen::Index j = 0; j < k; ++j)
        dz(routing.experts(t, j)) += w(j) * (dw(j) - dot);
    } else {
      // w = s_S (optionally / ‖s_S‖_p) with s = softmax(z) (before) or sigmoid(z). With
      // P = ‖s_S‖_p: ∂w_j/∂s_i = δ_ij/P − w_j·w_i^{p−1}/P, so ds_i = (dw_i − w_i^{p−1}·w·dw)/P.
      Eigen::VectorXd ds = Eigen::VectorXd::Zero(n);
      std::vector<double> selected(static_cast<size_t>(k));
      for (Eigen::Index j = 0; j < k; ++j)
        selected[size_t(j)] = routing.scores(t, routing.experts(t, j));
      const bool renorm = rule.renormalize;
      const double norm = renorm ? p_norm(selected, rule.renorm_p) : 1.0;
      double dot = w.dot(dw); // Σ_j dw_j w_j (w already normalised when renorm)
      for (Eigen::Index j = 0; j < k; ++j) {
        int e = routing.experts(t, j);
        const double wp = rule.renorm_p == 1.0 ? 1.0 : std::pow(std::abs(w(j)), rule.renorm_p - 1);
        ds(e) += renorm ? (dw(j) - wp * dot) / norm : dw(j);
      }
      if (have_probs && rule.scoring == Scoring::Sigmoid) {
        // probs = s / Σ_all s.
        double total = routing.scores.row(t).cast<double>().sum();
        Eigen::VectorXd p = routing.probs.row(t).transpose().cast<double>();
        Eigen::VectorXd dp = grad_probs.row(t).transpose().cast<double>();
        ds += (dp.array() - p.dot(dp)).matrix() / total;
      }
      Eigen::VectorXd s = routing.scores.row(t).transpose().cast<double>();
      if (rule.scoring == Scoring::Softmax) {
        if (have_probs)
          ds += grad_probs.row(t).transpose().cast<double>();
        dz += s.cwiseProduct((ds.array() - s.dot(ds)).matrix());
      } else {
        dz += (s.array() * (1 - s.array()) * ds.array()).matrix();
      }
      out.row(t) = dz.transpose().cast<float>();
      continue;
    }
    if (have_probs) // TopkSoftmax with softmax scoring: probs = softmax over all N.
      dz += softmax_backward(routing.probs.row(t), grad_probs.row(t));
    out.row(t) = dz.transpose().cast<float>();
  }
  return out;
}

MoeLayerWeights load_moe_layer(const MoeModel& model, int layer, std::optional<int> top_k) {
  const ModelInfo& info = model.info();
  const LayerInfo& li = info.moe_layer(layer);
  if (!top_k)
    top_k = li.top_k;
  if (!top_k)
    throw_input_error(info.path + ": layer " + std::to_string(layer) +
                      " has no top-k (config.json missing?); cannot route");
  if (info.activation != "silu")
    throw_input_error(info.path + ": expert activation '" + info.activation +
                      "' is not supported by the MoE block forward (expected silu)");
  MoeLayerWeights w;
  w.layer = layer;
  w.top_k = *top_k;
  w.rule = info.routing;
  w.router_bias = model.router_bias(layer);
  w.activation = info.gated;
  w.output_bias = model.moe_output_bias(layer);
  for (int e = 0; e < li.experts; ++e) {
    w.gate.push_back(model.expert_weight(layer, e, ExpertMatrix::Gate));
    w.up.push_back(model.expert_weight(layer, e, ExpertMatrix::Up));
    w.down.push_back(model.expert_weight(layer, e, ExpertMatrix::Down));
    w.gate_bias.push_back(model.expert_bias(layer, e, ExpertMatrix::Gate));
    w.up_bias.push_back(model.expert_bias(layer, e, ExpertMatrix::Up));
    w.down_bias.push_back(model.expert_bias(layer, e, ExpertMatrix::Down));
  }
  if (li.shared_experts > 0 || li.d_shared > 0) {
    w.shared_gate_proj = model.shared_weight(layer, ExpertMatrix::Gate);
    w.shared_up = model.shared_weight(layer, ExpertMatrix::Up);
    w.shared_down = model.shared_weight(layer, ExpertMatrix::Down);
    w.shared_gate = model.shared_gate(layer);
  }
  return w;
}

MatrixF expert_forward(const MatrixF& gate, const MatrixF& up, const MatrixF& down,
                       const MatrixF& x, const VectorF& gate_bias, const VectorF& up_bias,
                       const VectorF& down_bias, const GatedActivation& act) {
  MatrixF g = x * gate.transpose();
  MatrixF u = x * up.transpose();
  if (gate_bias.size() > 0)
    g.rowwise() += gate_bias.transpose();
  if (up_bias.size() > 0)
    u.rowwise() += up_bias.transpose();
  MatrixF h;
  if (act.clamped_swiglu) {
    const float limit = float(act.limit), alpha = float(act.alpha);
    const MatrixF gc = g.cwiseMin(limit);
    const MatrixF uc = u.cwiseMax(-limit).cwiseMin(limit);
    h = gc.unaryExpr([alpha](float v) {
            return v / (1.0f + std::exp(-alpha * v));
          }).cwiseProduct((uc.array() + 1.0f).matrix());
  } else {
    h = g.unaryExpr([](float v) { return v / (1.0f + std::exp(-v)); }).cwiseProduct(u);
  }
  MatrixF out = h * down.transpose();
  if (down_bias.size() > 0)
    out.rowwise() += down_bias.transpose();
  return out;
}

MatrixF shared_expert_forward(const MoeLayerWeights& w, const MatrixF& x) {
  if (w.shared_gate_proj.size() == 0)
    return MatrixF::Zero(x.rows(), x.cols());
  MatrixF out = expert_forward(w.shared_gate_proj, w.shared_up, w.shared_down, x);
  if (w.shared_gate.size() > 0) {
    VectorF gate_logit = x * w.shared_gate.row(0).transpose();
    for (Eigen::Index t = 0; t < x.rows(); ++t)
      out.row(t) *= float(sigmoid(gate_logit(t)));
  }
  return out;
}

MatrixF routed_forward(const MoeLayerWeights& w, const Routing& routing, const MatrixF& x,
                       MatrixF* slot_outputs) {
  const Eigen::Index tokens = x.rows(), k = routing.experts.cols();
  MatrixF out = MatrixF::Zero(tokens, x.cols());
  if (slot_outputs)
    slot_outputs->setZero(tokens * k, x.cols());
  const int n = static_cast<int>(w.gate.size());
  // Group tokens by expert so that each expert runs one matrix product.
  std::vector<std::vector<std::pair<Eigen::Index, Eigen::Index>>> slots(static_cast<size_t>(n));
  for (Eigen::Index t = 0; t < tokens; ++t)
    for (Eigen::Index j = 0; j < routing.experts.cols(); ++j)
      slots[size_t(routing.experts(t, j))].emplace_back(t, j);
  // Experts run in parallel; their outputs are summed afterwards in expert order, so the result
  // does not depend on the number of threads.
  std::vector<MatrixF> outputs(static_cast<size_t>(n));
  parallel_for(n, 0, [&](int e) {
    const auto& s = slots[size_t(e)];
    if (s.empty())
      return;
    MatrixF xe(Eigen::Index(s.size()), x.cols());
    for (size_t i = 0; i < s.size(); ++i) {
      xe.row(Eigen::Index(i)) = x.row(s[i].first);
      if (w.rule.sigmoid_input_scale)
        xe.row(Eigen::Index(i)) *= routing.weights(s[i].first, s[i].second);
    }
    // Bias lists may be empty (families without expert biases): no bias then.
    auto bias = [e](const std::vector<VectorF>& b) {
      return size_t(e) < b.size() ? b[size_t(e)] : VectorF();
    };
    outputs[size_t(e)] =
        expert_forward(w.gate[size_t(e)], w.up[size_t(e)], w.down[size_t(e)], xe, bias(w.gate_bias),
                       bias(w.up_bias), bias(w.down_bias), w.activation);
  });
  for (int e = 0; e < n; ++e) {
    const auto& s = slots[size_t(e)];
    const MatrixF& ye = outputs[size_t(e)];
    for (size_t i = 0; i < s.size(); ++i) {
      float scale = w.rule.sigmoid_input_scale ? 1.0f : routing.weights(s[i].first, s[i].second);
      out.row(s[i].first) += scale * ye.row(Eigen::Index(i));
      if (slot_outputs)
        slot_outputs->row(s[i].first * k + s[i].second) = ye.row(Eigen::Index(i));
    }
  }
  return out;
}

MatrixF moe_block_output(const MoeLayerWeights& w, const Routing& routing, const MatrixF& x) {
  MatrixF out = routed_forward(w, routing, x) + shared_expert_forward(w, x);
  if (w.output_bias.size() > 0)
    out.rowwise() += w.output_bias.transpose();
  return out;
}

MatrixF moe_block_forward(const MoeLayerWeights& w, const MatrixF& router, const MatrixF& x) {
  return moe_block_output(w, route_tokens(x, router, w.router_bias, w.rule, w.top_k), x);
}

} // namespace routerscope
