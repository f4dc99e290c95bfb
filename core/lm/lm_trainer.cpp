#include "core/lm/lm_trainer.h"

#include "core/error.h"
#include "core/load_metrics.h"
#include "core/metrics.h"

#include <chrono>
#include <cmath>
#include <numbers>
#include <random>
#include <set>

namespace routerscope::lm {

namespace {

void check_tokens(const std::vector<std::int32_t>& tokens, int vocab, const char* what) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      throw_input_error(std::string(what) + ": token " + std::to_string(tokens[i]) +
                        " at position " + std::to_string(i) + " is outside the vocabulary [0, " +
                        std::to_string(vocab) + ")");
}

LmRouting make_routing(const std::string& name, const MpiSettings& mpi) {
  LmRouting r;
  r.variant = parse_variant(name);
  r.mpi = mpi;
  r.mpi.matrix = ExpertMatrix::Gate;
  return r;
}

struct WindowEval {
  double bits = 0;
  std::vector<VectorD> loads; // [layers][E]
};

// Mean next-token CE in bits over non-overlapping windows of ctx tokens from the start of tokens
// (ctx − 1 predictions each; at most max_windows when > 0), `batch` windows per forward pass.
WindowEval evaluate_windows(const LmParams<float>& p, const LmRouting& routing,
                            const std::vector<std::int32_t>& tokens, int ctx, int max_windows,
                            int batch, int threads, const Progress& progress = {}) {
  if (ctx < 2)
    throw_input_error("--ctx must be at least 2 for evaluation, got " + std::to_string(ctx));
  long long windows = (long long)(tokens.size()) / ctx;
  if (max_windows > 0)
    windows = std::min<long long>(windows, max_windows);
  if (windows < 1)
    throw_input_error("evaluation data has " + std::to_string(tokens.size()) +
                      " tokens, fewer than one window of --ctx " + std::to_string(ctx));
  WindowEval out;
  out.loads.assign(size_t(p.config().layers), VectorD::Zero(p.config().experts));
  double ce_sum = 0;
  for (long long w0 = 0; w0 < windows; w0 += batch) {
    progress.check();
    progress(double(w0) / double(windows), "");
    LmBatch b;
    b.batch = int(std::min<long long>(batch, windows - w0));
    b.seq = ctx - 1;
    for (int i = 0; i < b.batch; ++i) {
      const size_t base = size_t(w0 + i) * size_t(ctx);
      b.inputs.insert(b.inputs.end(), tokens.begin() + long(base),
                      tokens.begin() + long(base + size_t(ctx) - 1));
      b.targets.insert(b.targets.end(), tokens.begin() + long(base) + 1,
                       tokens.begin() + long(base + size_t(ctx)));
    }
    const LmLoss l = lm_loss<float>(p, routing, b, 0.0, nullptr, threads);
    ce_sum += l.lm * double(b.batch) * double(b.seq);
    for (size_t layer = 0; layer < out.loads.size(); ++layer)
      out.loads[layer] += l.layers[layer].load;
  }
  out.bits = ce_sum / (double(windows) * double(ctx - 1)) / std::numbers::ln2;
  return out;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

MatrixF to_float(const Mat<float>& m) {
  return m;
}

} // namespace

void LmSettings::validate() const {
  if (variants.empty())
    throw_input_error("--variants: at least one variant is needed");
  std::set<std::string> seen;
  for (const auto& v : variants) {
    parse_variant(v);
    if (!seen.insert(v).second)
      throw_input_error("--variants: '" + v + "' is listed twice");
  }
  if (!(adamw.lr > 0) || !std::isfinite(adamw.lr))
    throw_input_error("--lr must be positive, got " + std::to_string(adamw.lr));
  if (adamw.warmup_steps < 0)
    throw_input_error("--warmup must be >= 0, got " + std::to_string(adamw.warmup_steps));
  if (!(lb_alpha >= 0))
    throw_input_error("--lb-alpha must be >= 0, got " + std::to_string(lb_alpha));
  if (!(mpi.c_prime > 0))
    throw_input_error("--c-prime must be positive, got " + std::to_string(mpi.c_prime));
  if (mpi.power_steps < 1)
    throw_input_error("--power-steps must be at least 1, got " + std::to_string(mpi.power_steps));
  if (batch < 1)
    throw_input_error("--batch must be at least 1, got " + std::to_string(batch));
  if (steps < 1)
    throw_input_error("--steps must be at least 1, got " + std::to_string(steps));
  if (threads < 1)
    throw_input_error("--threads must be at least 1, got " + std::to_string(threads));
}

LmTrainer::LmTrainer(const LmConfig& config, const LmSettings& settings,
                     std::vector<std::int32_t> train, std::vector<std::int32_t> val)
    : config_(config), settings_(settings), train_(std::move(train)), val_(std::move(val)) {
  config_.validate();
  settings_.validate();
  if (train_.size() < size_t(config_.ctx) + 1)
    throw_input_error("training data has " + std::to_string(train_.size()) +
                      " tokens, fewer than --ctx + 1 = " + std::to_string(config_.ctx + 1));
  check_tokens(train_, config_.vocab, "training data");
  check_tokens(val_, config_.vocab, "validation data");
  const LmParams<float> init = lm_init(config_, settings_.seed);
  for (const auto& name : settings_.variants) {
    Variant v;
    v.routing = make_routing(name, settings_.mpi);
    v.params = init;
    v.m.assign(init.buffer().size(), 0.0f);
    v.v.assign(init.buffer().size(), 0.0f);
    variants_.push_back(std::move(v));
  }
}

std::vector<std::int64_t> LmTrainer::batch_offsets(int s) const {
  std::mt19937_64 rng(splitmix64(settings_.seed ^ splitmix64(std::uint64_t(s) + 1)));
  std::uniform_int_distribution<std::int64_t> pick(0,
                                                   std::int64_t(train_.size()) - config_.ctx - 1);
  std::vector<std::int64_t> out(size_t(settings_.batch));
  for (auto& o : out)
    o = pick(rng);
  return out;
}

LmBatch LmTrainer::batch(int s) const {
  LmBatch b;
  b.batch = settings_.batch;
  b.seq = config_.ctx;
  for (std::int64_t o : batch_offsets(s)) {
    b.inputs.insert(b.inputs.end(), train_.begin() + o, train_.begin() + o + config_.ctx);
    b.targets.insert(b.targets.end(), train_.begin() + o + 1, train_.begin() + o + 1 + config_.ctx);
  }
  return b;
}

std::vector<LmVariantStep> LmTrainer::step() {
  using Clock = std::chrono::steady_clock;
  const LmBatch b = batch(step_);
  const double lr = learning_rate(settings_.adamw, step_, settings_.steps);
  const double tokens = double(b.batch) * double(b.seq);
  std::vector<LmVariantStep> out;
  std::vector<LmParams<float>> grads;
  std::vector<double> seconds;
  // Every variant's gradient first, so that a failure leaves all parameters as they were.
  for (const Variant& v : variants_) {
    const auto t0 = Clock::now();
    LmVariantStep st;
    st.name = v.routing.variant.name;
    st.step = step_;
    st.lr = lr;
    LmParams<float> g(config_);
    LmLoss loss;
    try {
      loss = lm_loss<float>(v.params, v.routing, b, settings_.lb_alpha, &g, settings_.threads);
    } catch (const Error& e) {
      throw Error(e.kind(),
                  "step " + std::to_string(step_) + ", variant " + st.name + ": " + e.what());
    }
    double norm2 = 0;
    for (const auto& t : g.tensors()) {
      double tn = 0;
      for (size_t i = 0; i < t.size; ++i)
        tn += double(g.buffer()[t.offset + i]) * double(g.buffer()[t.offset + i]);
      if (!std::isfinite(tn))
        throw_input_error("step " + std::to_string(step_) + ", variant " + st.name +
                          ": non-finite gradient in " + t.name);
      norm2 += tn;
    }
    st.grad_norm = std::sqrt(norm2);
    st.loss = loss.total;
    st.lm_loss = loss.lm;
    st.lb_loss = loss.lb;
    grads.push_back(std::move(g));
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    // Statistics of the parameters this forward pass used (outside the timed work).
    for (int l = 0; l < config_.layers; ++l) {
      LmLayerStep ls;
      ls.load = loss.layers[size_t(l)].load;
      ls.maxvio_batch = max_vio(ls.load);
      const auto& sl = v.params.slots().layers[size_t(l)];
      ls.raw_norm = v.params.mat(sl.gate).rowwise().norm().cast<double>();
      ls.routing_norm = lm_routing_router(v.params, l, v.routing).rowwise().norm().cast<double>();
      ls.sigma1.resize(config_.experts);
      for (int e = 0; e < config_.experts; ++e) {
        const std::vector<double> sv = singular_values(to_float(v.params.mat(sl.w1[size_t(e)])), 1);
        ls.sigma1(e) = sv.empty() ? std::nan("") : sv[0];
      }
      st.layers.push_back(std::move(ls));
    }
    out.push_back(std::move(st));
  }
  const AdamWSettings& a = settings_.adamw;
  const double bc1 = 1 - std::pow(a.beta1, step_ + 1), bc2 = 1 - std::pow(a.beta2, step_ + 1);
  for (size_t vi = 0; vi < variants_.size(); ++vi) {
    const auto t0 = Clock::now();
    Variant& v = variants_[vi];
    std::vector<float>& g = grads[vi].buffer();
    const double norm = out[vi].grad_norm;
    const float clip = (a.grad_clip > 0 && norm > a.grad_clip) ? float(a.grad_clip / norm) : 1.0f;
    // torch.optim.AdamW's update, in its order of operations.
    const float b1 = float(a.beta1), b2 = float(a.beta2), eps = float(a.eps);
    const float step_size = float(lr / bc1), sqrt_bc2 = float(std::sqrt(bc2));
    for (const auto& t : v.params.tensors()) {
      const float decay = t.matrix ? float(1 - lr * a.weight_decay) : 1.0f;
      float* p = v.params.buffer().data() + t.offset;
      float* m = v.m.data() + t.offset;
      float* s = v.v.data() + t.offset;
      const float* gr = g.data() + t.offset;
      for (size_t i = 0; i < t.size; ++i) {
        const float gi = gr[i] * clip;
        p[i] *= decay;
        m[i] = m[i] * b1 + (1 - b1) * gi;
        s[i] = s[i] * b2 + (1 - b2) * gi * gi;
        p[i] -= step_size * m[i] / (std::sqrt(s[i]) / sqrt_bc2 + eps);
      }
    }
    seconds[vi] += std::chrono::duration<double>(Clock::now() - t0).count();
    out[vi].tokens_per_s = tokens / seconds[vi];
  }
  ++step_;
  return out;
}

std::vector<LmVariantEval> LmTrainer::evaluate() const {
  std::vector<LmVariantEval> out;
  for (const Variant& v : variants_) {
    const WindowEval w =
        evaluate_windows(v.params, v.routing, val_, config_.ctx, settings_.eval_windows,
                         settings_.batch, settings_.threads);
    LmVariantEval e;
    e.name = v.routing.variant.name;
    e.bits_per_token = w.bits;
    for (const VectorD& load : w.loads)
      e.layers.push_back({load, max_vio(load)});
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<LmVariantAlignment> LmTrainer::alignment(const SpectralOptions& options) const {
  std::vector<LmVariantAlignment> out;
  for (const Variant& v : variants_) {
    LmVariantAlignment va;
    va.name = v.routing.variant.name;
    for (int l = 0; l < config_.layers; ++l) {
      const auto& sl = v.params.slots().layers[size_t(l)];
      const MatrixF raw = to_float(v.params.mat(sl.gate));
      const MatrixF routed = lm_routing_router(v.params, l, v.routing);
      LmLayerAlignment la;
      const int n = config_.experts;
      la.cos = la.lambda = la.stored_cos = la.stored_lambda = VectorD::Constant(n, std::nan(""));
      double sum = 0;
      int count = 0;
      for (int e = 0; e < n; ++e) {
        const MatrixF g = to_float(v.params.mat(sl.w1[size_t(e)]));
        const PrincipalDirection d = principal_direction(g, options);
        if (d.status != DirectionStatus::Ok)
          continue;
        const VectorF r = routed.row(e).transpose(), s = raw.row(e).transpose();
        la.cos(e) = abs_cos(r, d.u1);
        la.lambda(e) = alignment_lambda(r, g, d.sigma1);
        la.stored_cos(e) = abs_cos(s, d.u1);
        la.stored_lambda(e) = alignment_lambda(s, g, d.sigma1);
        sum += la.lambda(e);
        ++count;
      }
      la.mean_lambda = count > 0 ? sum / count : std::nan("");
      va.layers.push_back(std::move(la));
    }
    out.push_back(std::move(va));
  }
  return out;
}

LmParams<float> LmTrainer::routing_params(int v) const {
  const Variant& var = variants_[size_t(v)];
  LmParams<float> p = var.params;
  for (int l = 0; l < config_.layers; ++l)
    p.mat(p.slots().layers[size_t(l)].gate) = lm_routing_router(var.params, l, var.routing);
  return p;
}

MatrixF LmTrainer::raw_router(int v, int layer) const {
  const auto& p = variants_[size_t(v)].params;
  return to_float(p.mat(p.slots().layers[size_t(layer)].gate));
}

MatrixF LmTrainer::routing_router(int v, int layer) const {
  return lm_routing_router(variants_[size_t(v)].params, layer, variants_[size_t(v)].routing);
}

LmTrainerState LmTrainer::export_state() const {
  LmTrainerState s;
  s.config = config_;
  s.step = step_;
  s.seed = settings_.seed;
  for (const Variant& v : variants_)
    s.variants.push_back({v.routing.variant.name, v.params.buffer(), v.m, v.v});
  return s;
}

void LmTrainer::import_state(const LmTrainerState& s) {
  const LmConfig& a = s.config;
  const LmConfig& b = config_;
  auto mismatch = [](const char* what, double found, double expected) {
    throw_input_error(std::string("resume state: ") + what + " is " + std::to_string(found) +
                      ", this run has " + std::to_string(expected));
  };
  const struct {
    const char* option;
    int found, expected;
  } fields[] = {{"--vocab", a.vocab, b.vocab},          {"--d-model", a.d_model, b.d_model},
                {"--layers", a.layers, b.layers},       {"--heads", a.heads, b.heads},
                {"--experts", a.experts, b.experts},    {"--top-k", a.top_k, b.top_k},
                {"--d-expert", a.d_expert, b.d_expert}, {"--ctx", a.ctx, b.ctx}};
  for (const auto& f : fields)
    if (f.found != f.expected)
      mismatch(f.option, f.found, f.expected);
  if (s.seed != settings_.seed)
    mismatch("--seed", double(s.seed), double(settings_.seed));
  if (s.step < 0)
    throw_input_error("resume state: step " + std::to_string(s.step) + " is negative");
  if (s.variants.size() != variants_.size())
    mismatch("the number of variants", double(s.variants.size()), double(variants_.size()));
  const size_t n = variants_.front().params.buffer().size();
  for (size_t i = 0; i < variants_.size(); ++i) {
    const LmVariantState& vs = s.variants[i];
    if (vs.name != variants_[i].routing.variant.name)
      throw_input_error("resume state: variant " + std::to_string(i) + " is '" + vs.name +
                        "', this run has '" + variants_[i].routing.variant.name + "'");
    for (const auto* buf : {&vs.params, &vs.adam_m, &vs.adam_v})
      if (buf->size() != n)
        throw_input_error("resume state: variant '" + vs.name + "' holds " +
                          std::to_string(buf->size()) + " values per buffer, expected " +
                          std::to_string(n));
  }
  for (size_t i = 0; i < variants_.size(); ++i) {
    variants_[i].params.buffer() = s.variants[i].params;
    variants_[i].m = s.variants[i].adam_m;
    variants_[i].v = s.variants[i].adam_v;
  }
  step_ = s.step;
}

double lm_bits_per_token(const LmParams<float>& params, const std::vector<std::int32_t>& tokens,
                         int ctx, int threads, const Progress& progress) {
  params.config().validate();
  check_tokens(tokens, params.config().vocab, "evaluation data");
  LmRouting vanilla;
  vanilla.variant = parse_variant("vanilla");
  return evaluate_windows(params, vanilla, tokens, ctx, 0, 16, threads, progress).bits;
}

} // namespace routerscope::lm
