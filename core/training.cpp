#include "core/training.h"

#include "core/error.h"
#include "core/load_metrics.h"
#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace routerscope {

namespace {

constexpr double kPi = 3.14159265358979323846;

MatrixF gaussian_matrix(int rows, int cols, std::mt19937_64& rng, double std) {
  std::normal_distribution<double> n(0.0, std);
  MatrixF m(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      m(i, j) = float(n(rng));
  return m;
}

// Per-expert |cos| against u₁, λ, and row norm of a router [N, D].
void describe_router(const TrainingLayer& layer, const MatrixF& r, VectorD& cos, VectorD* lambda,
                     VectorD& norm) {
  const Eigen::Index n = r.rows();
  cos.resize(n);
  norm.resize(n);
  if (lambda)
    lambda->resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const auto& dir = layer.directions[size_t(i)];
    VectorF row = r.row(i).transpose();
    norm(i) = row.norm();
    const bool ok = dir.status == DirectionStatus::Ok;
    cos(i) = ok ? abs_cos(row, dir.u1) : std::nan("");
    if (lambda)
      (*lambda)(i) =
          dir.sigma1 > 0 ? alignment_lambda(row, layer.g[size_t(i)], dir.sigma1) : std::nan("");
  }
}

} // namespace

double adamw_step(MatrixF& r, MatrixF grad, AdamState& st, const AdamWSettings& s, double lr) {
  double norm = grad.cast<double>().norm();
  if (s.grad_clip > 0 && norm > s.grad_clip)
    grad *= float(s.grad_clip / norm);
  if (st.m.size() == 0) {
    st.m = MatrixF::Zero(r.rows(), r.cols());
    st.v = MatrixF::Zero(r.rows(), r.cols());
  }
  ++st.t;
  st.m = float(s.beta1) * st.m + float(1 - s.beta1) * grad;
  st.v = float(s.beta2) * st.v + float(1 - s.beta2) * grad.cwiseProduct(grad);
  const double c1 = 1 - std::pow(s.beta1, st.t), c2 = 1 - std::pow(s.beta2, st.t);
  r *= float(1 - lr * s.weight_decay);
  r.array() -=
      float(lr) * ((st.m.array() / float(c1)) / ((st.v.array() / float(c2)).sqrt() + float(s.eps)));
  return norm;
}

MatrixF synthetic_tokens(int count, int d_model, std::uint64_t seed, int clusters, double spread) {
  if (count < 1 || d_model < 1 || clusters < 1)
    throw_input_error("synthetic tokens: count, width and clusters must be positive");
  std::mt19937_64 rng(seed);
  MatrixF centres = gaussian_matrix(clusters, d_model, rng, 1.0);
  MatrixF noise = gaussian_matrix(count, d_model, rng, spread);
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  for (int t = 0; t < count; ++t)
    noise.row(t) += centres.row(pick(rng));
  return noise;
}

MatrixF rms_norm_rows(const MatrixF& x, const VectorF& weight, double eps) {
  if (weight.size() != 0 && weight.size() != x.cols())
    throw_input_error("RMSNorm: weight has length " + std::to_string(weight.size()) +
                      ", expected " + std::to_string(x.cols()));
  MatrixF out(x.rows(), x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    double ms = x.row(t).cast<double>().squaredNorm() / double(x.cols());
    out.row(t) = x.row(t) * float(1.0 / std::sqrt(ms + eps));
    if (weight.size() != 0)
      out.row(t) = out.row(t).cwiseProduct(weight.transpose());
  }
  return out;
}

MatrixF layer_norm_rows(const MatrixF& x, const VectorF& weight, const VectorF& bias, double eps) {
  for (const VectorF* v : {&weight, &bias})
    if (v->size() != 0 && v->size() != x.cols())
      throw_input_error("LayerNorm: weight/bias has length " + std::to_string(v->size()) +
                        ", expected " + std::to_string(x.cols()));
  MatrixF out(x.rows(), x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const Eigen::RowVectorXd row = x.row(t).cast<double>();
    const double mean = row.mean();
    const double var = (row.array() - mean).square().mean();
    Eigen::RowVectorXd y = ((row.array() - mean) / std::sqrt(var + eps)).matrix();
    if (weight.size() != 0)
      y = y.cwiseProduct(weight.transpose().cast<double>());
    if (bias.size() != 0)
      y += bias.transpose().cast<double>();
    out.row(t) = y.cast<float>();
  }
  return out;
}

MatrixF pre_moe_normalize(const MoeModel& model, int layer, const MatrixF& x) {
  const ModelInfo& info = model.info();
  if (info.pre_moe_norm == NormKind::Layer)
    return layer_norm_rows(x, model.pre_moe_norm(layer), model.pre_moe_norm_bias(layer),
                           info.norm_eps);
  return rms_norm_rows(x, model.pre_moe_norm(layer), info.norm_eps);
}

MatrixF embedding_tokens(const MoeModel& model, int layer, int count, std::uint64_t seed) {
  MatrixF table = model.embeddings();
  if (table.size() == 0)
    throw_input_error(model.info().path +
                      ": the checkpoint holds no token embeddings (embed_tokens); use synthetic "
                      "tokens or an HDF5 file of hidden states");
  if (table.cols() != model.info().d_model)
    throw_input_error(model.info().path + ": embeddings are [" + std::to_string(table.rows()) +
                      ", " + std::to_string(table.cols()) + "], expected width " +
                      std::to_string(model.info().d_model));
  std::mt19937_64 rng(seed);
  std::vector<Eigen::Index> order(size_t(table.rows()));
  std::iota(order.begin(), order.end(), Eigen::Index(0));
  std::shuffle(order.begin(), order.end(), rng);
  MatrixF x(count, table.cols());
  for (int t = 0; t < count; ++t)
    x.row(t) = table.row(order[size_t(t) % order.size()]);
  return pre_moe_normalize(model, layer, x);
}

TrainVariant parse_variant(const std::string& name) {
  TrainVariant v;
  v.name = name;
  if (name == "vanilla")
    return v;
  v.reparametrised = true;
  if (name == "mpi")
    return v;
  if (name == "no-power" || name == "no-retract") {
    v.ablation = parse_ablation(name);
    return v;
  }
  throw_input_error("unknown training variant '" + name +
                    "': expected vanilla, mpi, no-power or no-retract");
}

double learning_rate(const AdamWSettings& s, int step, int total) {
  if (s.warmup_steps > 0 && step < s.warmup_steps)
    return s.lr * double(step + 1) / double(s.warmup_steps);
  const int span = std::max(1, total - 1 - std::max(0, s.warmup_steps));
  const double progress = std::clamp(double(step - std::max(0, s.warmup_steps)) / span, 0.0, 1.0);
  const double cosine = 0.5 * (1 + std::cos(kPi * progress));
  return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * cosine);
}

TrainingLayer prepare_training_layer(const MoeModel& model, const TrainSettings& settings) {
  TrainingLayer layer;
  layer.weights = load_moe_layer(model, settings.layer);
  if (layer.weights.rule.sigmoid_input_scale)
    throw_input_error(model.info().path + ": router training does not support the " +
                      model.info().family + " routing rule (input-scaled gating)");
  layer.g = load_direction_operators(model, settings.layer, settings.mpi.matrix);
  check_mpi_inputs(model, settings.layer, model.router(settings.layer), layer.g,
                   settings.mpi.matrix);
  std::unique_ptr<ComputeBackend> cpu;
  const ComputeBackend* backend = settings.backend;
  if (!backend)
    backend = (cpu = make_cpu_backend()).get();
  layer.directions =
      backend->principal_directions(*backend->upload(layer.g), settings.spectral, {});
  return layer;
}

RoutingRule variant_rule(const RoutingRule& vanilla, const TrainVariant& v,
                         const MpiSettings& mpi) {
  RoutingRule rule = vanilla;
  if (v.reparametrised) {
    rule.order = mpi.order;
    rule.scoring = mpi.scoring;
  }
  return rule;
}

std::vector<std::string> mpi_rule_caveats(const RoutingRule& vanilla, bool c_prime_given) {
  std::vector<std::string> out;
  // Appended to an empty element rather than pushed as temporaries: GCC 12 at -O3 reports a false
  // -Warray-bounds for push_back of a long literal's std::string.
  auto line = [&out](const char* text) { out.emplace_back() += text; };
  if (vanilla.logit_bias)
    line("the MPI router keeps the checkpoint's router logit bias (added to x·R'^T)");
  if (vanilla.selection_bias)
    line("the MPI router keeps the checkpoint's selection bias (e_score_correction_bias, added "
         "for expert selection)");
  if (vanilla.scaling != 1.0) {
    line("the MPI router keeps the checkpoint's routed scaling factor ");
    out.back() += std::to_string(vanilla.scaling);
  }
  if (c_prime_given && vanilla.scoring == Scoring::Sigmoid)
    line("--c-prime is ignored: this family scores with a sigmoid, where the MPI retraction "
         "radius is C = 1");
  return out;
}

Objective router_objective(const TrainingLayer& layer, const MatrixF& r, const TrainVariant& v,
                           const RoutingRule& rule, const MatrixF& x, const MatrixF& target,
                           const TrainSettings& settings) {
  MpiSettings mpi = settings.mpi;
  mpi.ablation = v.ablation;
  mpi.scoring = rule.scoring;
  Objective o;
  o.routing_router = v.reparametrised ? mpi_router(r, layer.g, mpi) : r;
  const auto& w = layer.weights;
  o.routing = route_tokens(x, o.routing_router, w.router_bias, rule, w.top_k);
  const Eigen::Index tokens = x.rows(), k = o.routing.experts.cols(), n = r.rows();
  MatrixF slots;
  MatrixF y = routed_forward(w, o.routing, x, &slots);
  MatrixF diff = y - target;
  const double scale = 1.0 / double(tokens * x.cols());
  o.task = diff.cast<double>().squaredNorm() * scale;
  // dL/dy = 2(y − target)/(T·D); dL/dw_tj = dL/dy_t · E_j(x_t).
  MatrixF grad_w(tokens, k);
  for (Eigen::Index t = 0; t < tokens; ++t)
    for (Eigen::Index j = 0; j < k; ++j)
      grad_w(t, j) =
          float(2 * scale * diff.row(t).cast<double>().dot(slots.row(t * k + j).cast<double>()));
  // LB loss α·N·Σ f_i P_i with f held constant: dL/dprobs[t, i] = α·N·f_i / T.
  VectorD loads = expert_loads(o.routing.experts, int(n));
  o.lb = switch_lb_loss(loads, o.routing.probs, settings.lb_alpha);
  MatrixF grad_p(tokens, n);
  const double slots_total = loads.sum();
  for (Eigen::Index i = 0; i < n; ++i)
    grad_p.col(i).setConstant(
        float(settings.lb_alpha * double(n) * loads(i) / slots_total / double(tokens)));
  MatrixF grad_logits = routing_backward(o.routing, rule, grad_w, grad_p);
  o.z = router_z_loss(o.routing.logits);
  if (settings.z_weight != 0) {
    // d/dz of mean_t lse_t² = 2·lse_t·softmax(z_t)/T.
    for (Eigen::Index t = 0; t < tokens; ++t) {
      Eigen::VectorXd z = o.routing.logits.row(t).transpose().cast<double>();
      double m = z.maxCoeff();
      Eigen::VectorXd e = (z.array() - m).exp();
      double lse = m + std::log(e.sum());
      grad_logits.row(t) +=
          (settings.z_weight * 2 * lse / double(tokens) * e / e.sum()).transpose().cast<float>();
    }
  }
  o.total = o.task + o.lb + settings.z_weight * o.z;
  MatrixF grad_routing = grad_logits.transpose() * x; // [N, D]
  o.grad = v.reparametrised ? mpi_backward(r, layer.g, mpi, grad_routing) : grad_routing;
  return o;
}

MatrixF training_target(const MoeModel& model, const TrainingLayer& layer, const MatrixF& x,
                        const RoutingRule& rule) {
  const auto& w = layer.weights;
  Routing routing = route_tokens(x, model.router(w.layer), w.router_bias, rule, w.top_k);
  return routed_forward(w, routing, x);
}

TrainResult train_router(const MoeModel& model, const MatrixF& tokens, const MatrixF& held_out,
                         const TrainSettings& settings, const TrainCallback& callback,
                         const Progress& progress) {
  if (settings.variants.empty())
    throw_input_error("train: no variants given");
  if (settings.steps < 1 || settings.batch < 1)
    throw_input_error("train: steps and batch must be positive");
  const ModelInfo& info = model.info();
  if (tokens.rows() < 1 || tokens.cols() != info.d_model)
    throw_input_error("train: tokens are [" + std::to_string(tokens.rows()) + ", " +
                      std::to_string(tokens.cols()) + "], expected [T >= 1, " +
                      std::to_string(info.d_model) + "]");
  if (held_out.size() != 0 && held_out.cols() != info.d_model)
    throw_input_error("train: held-out tokens have width " + std::to_string(held_out.cols()) +
                      ", expected " + std::to_string(info.d_model));
  TrainResult result;
  for (const auto& name : settings.variants)
    result.variants.push_back(parse_variant(name));
  TrainingLayer layer = prepare_training_layer(model, settings);
  const RoutingRule vanilla = settings.rule.value_or(info.routing);
  const int n = int(layer.g.size());

  std::mt19937_64 rng(settings.seed);
  MatrixF start = settings.init == RouterInit::Checkpoint
                      ? model.router(settings.layer)
                      : gaussian_matrix(n, info.d_model, rng, settings.init_std);
  // The target is the checkpoint's own block (original router and rule) on every pool token.
  const MatrixF target = training_target(model, layer, tokens, info.routing);

  const size_t nv = result.variants.size();
  std::vector<RoutingRule> rules;
  for (const auto& v : result.variants)
    rules.push_back(variant_rule(vanilla, v, settings.mpi));
  result.initial_router = start;
  result.routers.assign(nv, start);
  std::vector<AdamState> adam(nv);
  result.last.resize(nv);

  // Batches: a seeded permutation of the pool, consumed in order and reshuffled when used up;
  // drawn once per step and shared by every variant.
  std::vector<Eigen::Index> order(size_t(tokens.rows()));
  std::iota(order.begin(), order.end(), Eigen::Index(0));
  size_t cursor = order.size();
  MatrixF x(settings.batch, tokens.cols()), xt(settings.batch, tokens.cols());
  for (int step = 0; step < settings.steps; ++step) {
    if (progress.cancelled()) {
      result.cancelled = true;
      break;
    }
    for (int b = 0; b < settings.batch; ++b) {
      if (cursor == order.size()) {
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      x.row(b) = tokens.row(order[cursor]);
      xt.row(b) = target.row(order[cursor]);
      ++cursor;
    }
    const double lr = learning_rate(settings.adamw, step, settings.steps);
    const bool global = held_out.rows() > 0 && settings.global_every > 0 &&
                        (step % settings.global_every == 0 || step + 1 == settings.steps);
    for (size_t vi = 0; vi < nv; ++vi) {
      const TrainVariant& v = result.variants[vi];
      MatrixF& r = result.routers[vi];
      Objective o = router_objective(layer, r, v, rules[vi], x, xt, settings);
      // A NaN gradient would pass the clip (norm > clip is false for NaN) and poison the router.
      if (!std::isfinite(o.total) || !o.grad.allFinite())
        throw_input_error("train: step " + std::to_string(step) + ", variant " + v.name +
                          ", layer " + std::to_string(settings.layer) + ": the " +
                          (std::isfinite(o.total) ? "router gradient" : "loss") +
                          " is not finite (loss " + std::to_string(o.total) +
                          "); lower --lr or check the tokens and checkpoint for NaN/Inf");
      TrainStepRecord rec;
      rec.variant = int(vi);
      rec.name = v.name;
      rec.step = step;
      rec.loss = o.total;
      rec.task_loss = o.task;
      rec.lb_loss = o.lb;
      rec.z_loss = o.z;
      rec.load = expert_loads(o.routing.experts, n);
      rec.maxvio_batch = max_vio(rec.load);
      rec.lr = lr;
      describe_router(layer, o.routing_router, rec.cos, &rec.lambda, rec.router_norm);
      if (v.reparametrised)
        describe_router(layer, r, rec.stored_cos, nullptr, rec.stored_norm);
      if (global) {
        Routing h = route_tokens(held_out, o.routing_router, layer.weights.router_bias, rules[vi],
                                 layer.weights.top_k);
        rec.maxvio_global = max_vio(expert_loads(h.experts, n));
      }
      rec.grad_norm = adamw_step(r, o.grad, adam[vi], settings.adamw, lr);
      if (callback)
        callback(rec);
      result.last[vi] = std::move(rec);
    }
    result.steps_done = step + 1;
    progress(double(step + 1) / settings.steps, "step " + std::to_string(step + 1));
  }
  return result;
}

} // namespace routerscope
