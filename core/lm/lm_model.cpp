#include "core/lm/lm_model.h"

#include "core/error.h"
#include "core/lm/lm_ops.h"
#include "core/parallel.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

namespace routerscope::lm {

namespace {

template <typename S> using Vec = Eigen::Matrix<S, Eigen::Dynamic, 1>;
using IndexRows = Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

[[noreturn]] void non_finite(int layer, const std::string& what) {
  throw_input_error((layer >= 0 ? "layer " + std::to_string(layer) + ": " : std::string()) +
                    "non-finite " + what);
}

// ---- RMSNorm: y = x / sqrt(mean(x²) + eps) ⊙ w, row by row ----

template <typename S> Mat<S> rms_forward(const Mat<S>& x, CRef<S> w, double eps, Vec<S>& inv) {
  const Eigen::Index n = x.rows();
  inv.resize(n);
  Mat<S> y(n, x.cols());
  for (Eigen::Index t = 0; t < n; ++t) {
    const S ms = x.row(t).squaredNorm() / S(x.cols());
    inv(t) = S(1) / std::sqrt(ms + S(eps));
    y.row(t) = (x.row(t) * inv(t)).cwiseProduct(w.row(0));
  }
  return y;
}

// dx = inv·(ĝ − x̂·mean(ĝ ⊙ x̂)) with ĝ = dy ⊙ w, x̂ = x·inv; dw += Σ_t dy ⊙ x̂.
template <typename S>
Mat<S> rms_backward(const Mat<S>& x, CRef<S> w, const Vec<S>& inv, const Mat<S>& dy, MatMap<S> dw) {
  Mat<S> dx(x.rows(), x.cols());
  const S d = S(x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    auto xh = (x.row(t) * inv(t)).eval();
    dw.row(0) += dy.row(t).cwiseProduct(xh);
    auto gh = dy.row(t).cwiseProduct(w.row(0)).eval();
    dx.row(t) = inv(t) * (gh - xh * (gh.dot(xh) / d));
  }
  return dx;
}

// ---- RoPE, transformers' rotate-half convention ----
// For head dimension h and pair i < h/2 at position p, angle p·θ^(−2i/h):
// y[i] = x[i]·cos − x[i+h/2]·sin, y[i+h/2] = x[i+h/2]·cos + x[i]·sin. sign −1 applies the inverse
// (the transpose), which is the backward pass.
template <typename S> struct Rope {
  Mat<S> cos, sin; // [T, h/2]
};

template <typename S> Rope<S> rope_tables(int seq, int head_dim, double theta) {
  Rope<S> r;
  const int half = head_dim / 2;
  r.cos.resize(seq, half);
  r.sin.resize(seq, half);
  for (int i = 0; i < half; ++i) {
    const double inv_freq = 1.0 / std::pow(theta, 2.0 * i / head_dim);
    for (int p = 0; p < seq; ++p) {
      r.cos(p, i) = S(std::cos(p * inv_freq));
      r.sin(p, i) = S(std::sin(p * inv_freq));
    }
  }
  return r;
}

// In place on x [B·T, D] (heads side by side).
template <typename S>
void rope_apply(Mat<S>& x, const Rope<S>& r, int seq, int heads, int head_dim, S sign) {
  const int half = head_dim / 2;
  for (Eigen::Index row = 0; row < x.rows(); ++row) {
    const int p = int(row % seq);
    for (int h = 0; h < heads; ++h) {
      S* v = x.row(row).data() + h * head_dim;
      for (int i = 0; i < half; ++i) {
        const S c = r.cos(p, i), s = sign * r.sin(p, i);
        const S a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
      }
    }
  }
}

// ---- the MPI re-parametrisation of one layer's router ----
// v₀ = R[i], v_{j+1} = W1ᵀ(W1 v_j) (k steps; none for no-power), R′[i] = C·v_k/‖v_k‖ (no
// retraction for no-retract). Kept here rather than in core/mpi.cpp because training the experts
// needs dL/dW1 as well as dL/dR, and the finite-difference checks need double.
template <typename S> struct RouterPass {
  std::vector<std::vector<Vec<S>>> v; // [E][k+1] power iterates
  Mat<S> routed;                      // R′ [E, D]
};

bool retracts(const LmRouting& r) {
  return r.variant.ablation != MpiSettings::Ablation::NoRetract;
}
int power_steps(const LmRouting& r) {
  return r.variant.ablation == MpiSettings::Ablation::NoPower ? 0 : r.mpi.power_steps;
}

template <typename S>
RouterPass<S> router_forward(const LmParams<S>& p, int layer, const LmRouting& routing) {
  const auto& ls = p.slots().layers[size_t(layer)];
  RouterPass<S> pass;
  pass.routed = p.mat(ls.gate);
  if (!routing.variant.reparametrised)
    return pass;
  const int e_count = p.config().experts;
  const S c = S(routing.mpi.radius(e_count));
  const int k = power_steps(routing);
  pass.v.resize(size_t(e_count));
  for (int e = 0; e < e_count; ++e) {
    auto w1 = p.mat(ls.w1[size_t(e)]);
    auto& v = pass.v[size_t(e)];
    v.push_back(pass.routed.row(e).transpose());
    for (int j = 0; j < k; ++j)
      v.push_back(w1.transpose() * (w1 * v.back()));
    if (retracts(routing)) {
      const S n = v.back().norm();
      if (!(n > 0) || !std::isfinite(double(n)))
        throw_input_error("layer " + std::to_string(layer) + ", expert " + std::to_string(e) +
                          ": the MPI router row to retract has norm " + std::to_string(double(n)) +
                          "; R′ is undefined");
      pass.routed.row(e) = (c / n) * v.back().transpose();
    } else {
      pass.routed.row(e) = v.back().transpose();
    }
  }
  return pass;
}

// Adds dL/dR and dL/dW1 given dL/dR′ [E, D].
template <typename S>
void router_backward(const LmParams<S>& p, int layer, const LmRouting& routing,
                     const RouterPass<S>& pass, const Mat<S>& d_routed, LmParams<S>& grad) {
  const auto& ls = p.slots().layers[size_t(layer)];
  auto d_gate = grad.mat(ls.gate);
  if (!routing.variant.reparametrised) {
    d_gate += d_routed;
    return;
  }
  const int e_count = p.config().experts;
  const S c = S(routing.mpi.radius(e_count));
  const int k = power_steps(routing);
  for (int e = 0; e < e_count; ++e) {
    const auto& v = pass.v[size_t(e)];
    Vec<S> a = d_routed.row(e).transpose();
    if (retracts(routing)) {
      // y = C·v/‖v‖: Jacobian (C/‖v‖)(I − v̂v̂ᵀ), symmetric.
      const S n = v.back().norm();
      const Vec<S> vh = v.back() / n;
      a = (c / n) * (a - vh * vh.dot(a));
    }
    auto w1 = p.mat(ls.w1[size_t(e)]);
    auto dw1 = grad.mat(ls.w1[size_t(e)]);
    for (int j = k - 1; j >= 0; --j) {
      // v_{j+1} = W1ᵀW1 v_j: d(aᵀ W1ᵀW1 v)/dW1 = (W1 a) v_jᵀ + (W1 v_j) aᵀ.
      const Vec<S> wa = w1 * a;
      dw1.noalias() += wa * v[size_t(j)].transpose() + (w1 * v[size_t(j)]) * a.transpose();
      a = w1.transpose() * wa;
    }
    d_gate.row(e) += a.transpose();
  }
}

// ---- one decoder layer ----

template <typename S> struct ExpertCache {
  std::vector<int> tokens, slots; // routed (token, slot) pairs, tokens ascending
  Mat<S> x, h1, h3, act, y;       // x [n, D], h1/h3/act [n, F], y [n, D]
};

template <typename S> struct LayerCache {
  Mat<S> x_in, a, q, k, v, att, x_mid, m;
  Vec<S> inv1, inv2;
  std::vector<Mat<S>> probs; // [B·H] attention probabilities [T, T]
  RouterPass<S> router;
  Mat<S> p;      // [n, E] router softmax
  IndexRows sel; // [n, K] chosen experts
  Mat<S> w;      // [n, K] renormalised weights
  Vec<S> psum;   // [n] Σ of the chosen probabilities
  std::vector<ExpertCache<S>> experts;
};

template <typename S> S silu(S z) {
  return z / (S(1) + std::exp(-z));
}

template <typename S> struct Ctx {
  const LmParams<S>& p;
  const LmRouting& routing;
  int batch, seq, threads;
  const Rope<S>& rope;
};

template <typename S>
Mat<S> attention_forward(const Ctx<S>& cx, LayerCache<S>& lc, const LmLayerSlots& ls) {
  const LmConfig& c = cx.p.config();
  const int hd = c.head_dim(), T = cx.seq;
  lc.q = linear_forward<S>(lc.a, cx.p.mat(ls.q), cx.threads);
  lc.k = linear_forward<S>(lc.a, cx.p.mat(ls.k), cx.threads);
  lc.v = linear_forward<S>(lc.a, cx.p.mat(ls.v), cx.threads);
  rope_apply(lc.q, cx.rope, T, c.heads, hd, S(1));
  rope_apply(lc.k, cx.rope, T, c.heads, hd, S(1));
  lc.att.resize(lc.a.rows(), c.d_model);
  lc.probs.assign(size_t(cx.batch * c.heads), Mat<S>());
  const S scale = S(1) / std::sqrt(S(hd));
  parallel_for(cx.batch * c.heads, cx.threads, [&](int bh) {
    const int b = bh / c.heads, h = bh % c.heads;
    auto q = lc.q.block(b * T, h * hd, T, hd);
    auto k = lc.k.block(b * T, h * hd, T, hd);
    auto v = lc.v.block(b * T, h * hd, T, hd);
    Mat<S>& pr = lc.probs[size_t(bh)];
    pr.noalias() = (q * k.transpose()) * scale;
    for (int i = 0; i < T; ++i) {
      auto row = pr.row(i);
      const S mx = row.head(i + 1).maxCoeff();
      row.head(i + 1) = (row.head(i + 1).array() - mx).exp().matrix();
      row.head(i + 1) /= row.head(i + 1).sum();
      row.tail(T - i - 1).setZero();
    }
    lc.att.block(b * T, h * hd, T, hd).noalias() = pr * v;
  });
  return linear_forward<S>(lc.att, cx.p.mat(ls.o), cx.threads);
}

// Returns dL/da given dL/d(attention output).
template <typename S>
Mat<S> attention_backward(const Ctx<S>& cx, const LayerCache<S>& lc, const LmLayerSlots& ls,
                          const Mat<S>& dout, LmParams<S>& g) {
  const LmConfig& c = cx.p.config();
  const int hd = c.head_dim(), T = cx.seq;
  linear_weight_grad<S>(dout, lc.att, g.mat(ls.o), cx.threads);
  Mat<S> datt = linear_input_grad<S>(dout, cx.p.mat(ls.o), cx.threads);
  Mat<S> dq(lc.q.rows(), lc.q.cols()), dk(dq.rows(), dq.cols()), dv(dq.rows(), dq.cols());
  const S scale = S(1) / std::sqrt(S(hd));
  parallel_for(cx.batch * c.heads, cx.threads, [&](int bh) {
    const int b = bh / c.heads, h = bh % c.heads;
    auto q = lc.q.block(b * T, h * hd, T, hd);
    auto k = lc.k.block(b * T, h * hd, T, hd);
    auto v = lc.v.block(b * T, h * hd, T, hd);
    auto d_o = datt.block(b * T, h * hd, T, hd);
    const Mat<S>& pr = lc.probs[size_t(bh)];
    dv.block(b * T, h * hd, T, hd).noalias() = pr.transpose() * d_o;
    Mat<S> dp = d_o * v.transpose();
    // Softmax backward: dS = P ⊙ (dP − rowsum(P ⊙ dP)); masked entries have P = 0.
    for (int i = 0; i < T; ++i) {
      const S dot = pr.row(i).dot(dp.row(i));
      dp.row(i) = pr.row(i).cwiseProduct((dp.row(i).array() - dot).matrix());
    }
    dq.block(b * T, h * hd, T, hd).noalias() = (dp * k) * scale;
    dk.block(b * T, h * hd, T, hd).noalias() = (dp.transpose() * q) * scale;
  });
  rope_apply(dq, cx.rope, T, c.heads, hd, S(-1));
  rope_apply(dk, cx.rope, T, c.heads, hd, S(-1));
  Mat<S> da = linear_input_grad<S>(dq, cx.p.mat(ls.q), cx.threads);
  da += linear_input_grad<S>(dk, cx.p.mat(ls.k), cx.threads);
  da += linear_input_grad<S>(dv, cx.p.mat(ls.v), cx.threads);
  linear_weight_grad<S>(dq, lc.a, g.mat(ls.q), cx.threads);
  linear_weight_grad<S>(dk, lc.a, g.mat(ls.k), cx.threads);
  linear_weight_grad<S>(dv, lc.a, g.mat(ls.v), cx.threads);
  return da;
}

template <typename S>
Mat<S> moe_forward(const Ctx<S>& cx, int layer, LayerCache<S>& lc, const LmLayerSlots& ls,
                   LmLayerForward& stats) {
  const LmConfig& c = cx.p.config();
  const int n = int(lc.m.rows()), E = c.experts, K = c.top_k;
  lc.router = router_forward(cx.p, layer, cx.routing);
  Mat<S> logits = lc.m * lc.router.routed.transpose();
  lc.p.resize(n, E);
  lc.sel.resize(n, K);
  lc.w.resize(n, K);
  lc.psum.resize(n);
  lc.experts.assign(size_t(E), ExpertCache<S>());
  stats.load = VectorD::Zero(E);
  stats.prob_mean = VectorD::Zero(E);
  std::vector<int> order(static_cast<size_t>(E));
  for (int t = 0; t < n; ++t) {
    auto row = lc.p.row(t);
    const S mx = logits.row(t).maxCoeff();
    row = (logits.row(t).array() - mx).exp().matrix();
    row /= row.sum();
    std::iota(order.begin(), order.end(), 0);
    // Highest probability first; ties to the lower index (torch.topk's order on equal values
    // is unspecified, ties have probability zero for real-valued logits).
    std::partial_sort(order.begin(), order.begin() + K, order.end(),
                      [&](int a, int b) { return row(a) > row(b) || (row(a) == row(b) && a < b); });
    S sum = 0;
    for (int j = 0; j < K; ++j)
      sum += row(order[size_t(j)]);
    lc.psum(t) = sum;
    for (int j = 0; j < K; ++j) {
      const int e = order[size_t(j)];
      lc.sel(t, j) = e;
      lc.w(t, j) = row(e) / sum;
      lc.experts[size_t(e)].tokens.push_back(t);
      lc.experts[size_t(e)].slots.push_back(j);
      stats.load(e) += 1;
    }
    for (int e = 0; e < E; ++e)
      stats.prob_mean(e) += double(row(e));
  }
  stats.prob_mean /= double(n);
  // Switch LB N·Σ f_i P_i with f_i = Load_i/(n·K) (load_metrics.h switch_lb_loss at α = 1).
  stats.lb = double(E) * (stats.load / double(n * K)).dot(stats.prob_mean);

  Mat<S> out = Mat<S>::Zero(n, c.d_model);
  parallel_for(E, cx.threads, [&](int e) {
    ExpertCache<S>& ec = lc.experts[size_t(e)];
    const int ne = int(ec.tokens.size());
    if (ne == 0)
      return;
    ec.x.resize(ne, c.d_model);
    for (int i = 0; i < ne; ++i)
      ec.x.row(i) = lc.m.row(ec.tokens[size_t(i)]);
    ec.h1.noalias() = ec.x * cx.p.mat(ls.w1[size_t(e)]).transpose();
    ec.h3.noalias() = ec.x * cx.p.mat(ls.w3[size_t(e)]).transpose();
    ec.act = ec.h1.unaryExpr([](S z) { return silu(z); }).cwiseProduct(ec.h3);
    ec.y.noalias() = ec.act * cx.p.mat(ls.w2[size_t(e)]).transpose();
  });
  // Scatter in expert order so that the sum is the same whatever the thread schedule.
  for (int e = 0; e < E; ++e) {
    const ExpertCache<S>& ec = lc.experts[size_t(e)];
    for (size_t i = 0; i < ec.tokens.size(); ++i)
      out.row(ec.tokens[i]) += lc.w(ec.tokens[i], ec.slots[i]) * ec.y.row(Eigen::Index(i));
  }
  return out;
}

// Returns dL/dm given dL/d(MoE output); lb_scale = dL/dLB_layer (α / L).
template <typename S>
Mat<S> moe_backward(const Ctx<S>& cx, int layer, const LayerCache<S>& lc, const LmLayerSlots& ls,
                    const LmLayerForward& stats, const Mat<S>& dout, double lb_scale,
                    LmParams<S>& g) {
  const LmConfig& c = cx.p.config();
  const int n = int(lc.m.rows()), E = c.experts, K = c.top_k;
  Mat<S> dw(n, K); // dL/d(renormalised weight)
  std::vector<Mat<S>> dx(static_cast<size_t>(E));
  parallel_for(E, cx.threads, [&](int e) {
    const ExpertCache<S>& ec = lc.experts[size_t(e)];
    const int ne = int(ec.tokens.size());
    if (ne == 0)
      return;
    Mat<S> dy(ne, c.d_model);
    for (int i = 0; i < ne; ++i) {
      const int t = ec.tokens[size_t(i)], j = ec.slots[size_t(i)];
      dw(t, j) = dout.row(t).dot(ec.y.row(i));
      dy.row(i) = lc.w(t, j) * dout.row(t);
    }
    g.mat(ls.w2[size_t(e)]).noalias() += dy.transpose() * ec.act;
    Mat<S> dact = dy * cx.p.mat(ls.w2[size_t(e)]);
    Mat<S> dh1(ne, c.d_expert), dh3(ne, c.d_expert);
    for (int i = 0; i < ne; ++i)
      for (int f = 0; f < c.d_expert; ++f) {
        const S z = ec.h1(i, f), sg = S(1) / (S(1) + std::exp(-z));
        dh3(i, f) = dact(i, f) * z * sg;
        dh1(i, f) = dact(i, f) * ec.h3(i, f) * sg * (S(1) + z * (S(1) - sg));
      }
    g.mat(ls.w1[size_t(e)]).noalias() += dh1.transpose() * ec.x;
    g.mat(ls.w3[size_t(e)]).noalias() += dh3.transpose() * ec.x;
    dx[size_t(e)].noalias() = dh1 * cx.p.mat(ls.w1[size_t(e)]);
    dx[size_t(e)].noalias() += dh3 * cx.p.mat(ls.w3[size_t(e)]);
  });
  Mat<S> dm = Mat<S>::Zero(n, c.d_model);
  for (int e = 0; e < E; ++e) {
    const ExpertCache<S>& ec = lc.experts[size_t(e)];
    for (size_t i = 0; i < ec.tokens.size(); ++i)
      dm.row(ec.tokens[i]) += dx[size_t(e)].row(Eigen::Index(i));
  }
  // Router: w_j = p_{e_j}/s over the chosen experts; LB adds N·f_i/n to dL/dp[t, i].
  Mat<S> dlogits(n, E);
  Vec<S> lb_grad(E);
  for (int e = 0; e < E; ++e)
    lb_grad(e) = S(lb_scale * double(E) * stats.load(e) / double(n * K) / double(n));
  for (int t = 0; t < n; ++t) {
    Eigen::Matrix<S, 1, Eigen::Dynamic> dp = lb_grad.transpose();
    S wdw = 0;
    for (int j = 0; j < K; ++j)
      wdw += lc.w(t, j) * dw(t, j);
    for (int j = 0; j < K; ++j)
      dp(lc.sel(t, j)) += (dw(t, j) - wdw) / lc.psum(t);
    const S dot = lc.p.row(t).dot(dp);
    dlogits.row(t) = lc.p.row(t).cwiseProduct((dp.array() - dot).matrix());
  }
  Mat<S> d_routed = dlogits.transpose() * lc.m;
  dm.noalias() += dlogits * lc.router.routed;
  router_backward(cx.p, layer, cx.routing, lc.router, d_routed, g);
  return dm;
}

template <typename S> void check_finite(const Mat<S>& x, int layer, const char* what) {
  if (!x.allFinite())
    non_finite(layer, what);
}

} // namespace

template <typename S>
LmParams<S>::LmParams(const LmConfig& config)
    : config_(config), tensors_(lm_tensor_layout(config)), slots_(lm_slots(config)) {
  data_.assign(tensors_.empty() ? 0 : tensors_.back().offset + tensors_.back().size, S(0));
}

template <typename S> MatMap<S> LmParams<S>::mat(int slot) {
  const auto& t = tensors_[size_t(slot)];
  const Eigen::Index rows = t.shape.size() == 2 ? t.shape[0] : 1;
  return MatMap<S>(data_.data() + t.offset, rows, Eigen::Index(t.size) / rows);
}

template <typename S> ConstMatMap<S> LmParams<S>::mat(int slot) const {
  const auto& t = tensors_[size_t(slot)];
  const Eigen::Index rows = t.shape.size() == 2 ? t.shape[0] : 1;
  return ConstMatMap<S>(data_.data() + t.offset, rows, Eigen::Index(t.size) / rows);
}

template <typename S> int LmParams<S>::find(std::string_view name) const {
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (tensors_[i].name == name)
      return int(i);
  throw_input_error("the language model has no tensor named '" + std::string(name) + "'");
}

template <typename S> void LmParams<S>::set_zero() {
  std::fill(data_.begin(), data_.end(), S(0));
}

LmParams<float> lm_init(const LmConfig& config, std::uint64_t seed) {
  config.validate();
  LmParams<float> p(config);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, config.init_std);
  for (const auto& t : p.tensors()) {
    float* d = p.buffer().data() + t.offset;
    for (size_t i = 0; i < t.size; ++i)
      d[i] = t.matrix ? float(normal(rng)) : 1.0f;
  }
  return p;
}

template <typename T, typename S> LmParams<T> lm_cast(const LmParams<S>& p) {
  LmParams<T> out(p.config());
  std::transform(p.buffer().begin(), p.buffer().end(), out.buffer().begin(),
                 [](S x) { return T(x); });
  return out;
}

template <typename S>
Mat<S> lm_routing_router(const LmParams<S>& p, int layer, const LmRouting& routing) {
  return router_forward(p, layer, routing).routed;
}

template <typename S>
LmLoss lm_loss(const LmParams<S>& p, const LmRouting& routing, const LmBatch& batch,
               double lb_alpha, LmParams<S>* grad, int threads) {
  const LmConfig& c = p.config();
  const int B = batch.batch, T = batch.seq, n = B * T, D = c.d_model;
  if (B < 1 || T < 1 || batch.inputs.size() != size_t(n) || batch.targets.size() != size_t(n))
    throw_internal_error("lm_loss: batch of " + std::to_string(B) + " × " + std::to_string(T) +
                         " with " + std::to_string(batch.inputs.size()) + " inputs and " +
                         std::to_string(batch.targets.size()) + " targets");
  for (int i = 0; i < n; ++i)
    for (std::int32_t tok : {batch.inputs[size_t(i)], batch.targets[size_t(i)]})
      if (tok < 0 || tok >= c.vocab)
        throw_input_error("token " + std::to_string(tok) + " at position " + std::to_string(i) +
                          " is outside the vocabulary [0, " + std::to_string(c.vocab) + ")");
  if (routing.variant.reparametrised && power_steps(routing) < 1 &&
      routing.variant.ablation != MpiSettings::Ablation::NoPower)
    throw_input_error("--power-steps must be at least 1, got " +
                      std::to_string(routing.mpi.power_steps));
  const auto& sl = p.slots();
  const Rope<S> rope = rope_tables<S>(T, c.head_dim(), c.rope_theta);
  const Ctx<S> cx{p, routing, B, T, threads, rope};

  LmLoss loss;
  loss.layers.resize(size_t(c.layers));
  std::vector<LayerCache<S>> caches(size_t(c.layers));
  Mat<S> x(n, D);
  {
    auto emb = p.mat(sl.embed);
    for (int t = 0; t < n; ++t)
      x.row(t) = emb.row(batch.inputs[size_t(t)]);
  }
  for (int l = 0; l < c.layers; ++l) {
    const auto& ls = sl.layers[size_t(l)];
    LayerCache<S>& lc = caches[size_t(l)];
    lc.x_in = std::move(x);
    lc.a = rms_forward<S>(lc.x_in, p.mat(ls.input_norm), c.norm_eps, lc.inv1);
    lc.x_mid = lc.x_in + attention_forward(cx, lc, ls);
    lc.m = rms_forward<S>(lc.x_mid, p.mat(ls.post_norm), c.norm_eps, lc.inv2);
    x = lc.x_mid + moe_forward(cx, l, lc, ls, loss.layers[size_t(l)]);
    check_finite(x, l, "hidden state");
    loss.lb += loss.layers[size_t(l)].lb / double(c.layers);
    if (!grad) { // forward only: keep nothing of this layer
      lc = LayerCache<S>();
    }
  }
  Vec<S> inv_f;
  const Mat<S> f = rms_forward<S>(x, p.mat(sl.final_norm), c.norm_eps, inv_f);
  Mat<S> logits = linear_forward<S>(f, p.mat(sl.lm_head), threads);
  double ce = 0;
  for (int t = 0; t < n; ++t) {
    auto row = logits.row(t);
    const S mx = row.maxCoeff();
    const S target = row(batch.targets[size_t(t)]) - mx;
    row = (row.array() - mx).exp().matrix();
    const S sum = row.sum();
    ce += double(std::log(sum) - target);
    row /= sum; // logits now hold the softmax, reused by the backward pass
  }
  loss.lm = ce / double(n);
  loss.total = loss.lm + lb_alpha * loss.lb;
  if (!std::isfinite(loss.total))
    non_finite(-1, "loss (LM " + std::to_string(loss.lm) + ", LB " + std::to_string(loss.lb) + ")");
  if (!grad)
    return loss;

  LmParams<S>& g = *grad;
  if (g.buffer().size() != p.buffer().size())
    throw_internal_error("lm_loss: gradient buffer does not match the parameters");
  g.set_zero();
  Mat<S>& dlogits = logits;
  for (int t = 0; t < n; ++t)
    dlogits(t, batch.targets[size_t(t)]) -= S(1);
  dlogits /= S(n);
  linear_weight_grad<S>(dlogits, f, g.mat(sl.lm_head), threads);
  Mat<S> df = linear_input_grad<S>(dlogits, p.mat(sl.lm_head), threads);
  Mat<S> dx = rms_backward<S>(x, p.mat(sl.final_norm), inv_f, df, g.mat(sl.final_norm));
  const double lb_scale = lb_alpha / double(c.layers);
  for (int l = c.layers - 1; l >= 0; --l) {
    const auto& ls = sl.layers[size_t(l)];
    const LayerCache<S>& lc = caches[size_t(l)];
    Mat<S> dm = moe_backward(cx, l, lc, ls, loss.layers[size_t(l)], dx, lb_scale, g);
    dx += rms_backward<S>(lc.x_mid, p.mat(ls.post_norm), lc.inv2, dm, g.mat(ls.post_norm));
    Mat<S> da = attention_backward(cx, lc, ls, dx, g);
    dx += rms_backward<S>(lc.x_in, p.mat(ls.input_norm), lc.inv1, da, g.mat(ls.input_norm));
    check_finite(dx, l, "gradient");
  }
  auto demb = g.mat(sl.embed);
  for (int t = 0; t < n; ++t)
    demb.row(batch.inputs[size_t(t)]) += dx.row(t);
  return loss;
}

template class LmParams<float>;
template class LmParams<double>;
template LmParams<double> lm_cast<double, float>(const LmParams<float>&);
template LmParams<float> lm_cast<float, double>(const LmParams<double>&);
template LmParams<float> lm_cast<float, float>(const LmParams<float>&);
template Mat<float> lm_routing_router<float>(const LmParams<float>&, int, const LmRouting&);
template Mat<double> lm_routing_router<double>(const LmParams<double>&, int, const LmRouting&);
template LmLoss lm_loss<float>(const LmParams<float>&, const LmRouting&, const LmBatch&, double,
                               LmParams<float>*, int);
template LmLoss lm_loss<double>(const LmParams<double>&, const LmRouting&, const LmBatch&, double,
                                LmParams<double>*, int);

} // namespace routerscope::lm
