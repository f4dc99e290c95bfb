#include "io/pretrain_run.h"

#include <cmath>

namespace routerscope::io {

namespace {

// The parameters of a validated plan (BadInput naming the option before anything is built).
PretrainPlan checked(PretrainPlan plan, const Corpus& corpus) {
  plan.config.vocab = corpus.vocab;
  plan.config.validate();
  plan.settings.validate();
  check_corpus(corpus, plan.config.ctx);
  return plan;
}

std::vector<std::int32_t> slice(const Corpus& corpus, bool train) {
  const auto split = corpus.tokens.begin() + std::ptrdiff_t(corpus.train_size);
  return train ? std::vector<std::int32_t>(corpus.tokens.begin(), split)
               : std::vector<std::int32_t>(split, corpus.tokens.end());
}

PretrainStepRow record_row(const lm::LmVariantStep& st, double lb_alpha,
                           const lm::LmVariantEval* eval, const lm::LmVariantAlignment* align) {
  PretrainStepRow r;
  r.variant = st.name;
  r.step = st.step;
  r.loss = st.loss;
  r.lm_loss = st.lm_loss;
  r.lb_loss = lb_alpha * st.lb_loss; // α included, as in the train record
  r.grad_norm = st.grad_norm;
  r.lr = st.lr;
  r.tokens_per_s = st.tokens_per_s;
  for (std::size_t l = 0; l < st.layers.size(); ++l) {
    const auto& L = st.layers[l];
    PretrainLayerRow row;
    row.load = L.load;
    row.maxvio_batch = L.maxvio_batch;
    row.router_norm = L.routing_norm;
    row.raw_norm = L.raw_norm;
    row.sigma1 = L.sigma1;
    if (eval)
      row.maxvio_global = eval->layers[l].maxvio_global;
    if (align) {
      row.cos = align->layers[l].cos;
      row.lambda = align->layers[l].lambda;
    }
    r.layers.push_back(std::move(row));
  }
  if (eval)
    r.val_bpb = eval->bits_per_token;
  return r;
}

} // namespace

nlohmann::json pretrain_identity(const PretrainPlan& plan, const Corpus& corpus) {
  const lm::LmConfig& c = plan.config;
  const lm::LmSettings& s = plan.settings;
  return {{"vocab", corpus.vocab},
          {"d-model", c.d_model},
          {"layers", c.layers},
          {"heads", c.heads},
          {"experts", c.experts},
          {"top-k", c.top_k},
          {"d-expert", c.d_expert},
          {"ctx", c.ctx},
          {"steps", s.steps},
          {"batch", s.batch},
          {"lr", s.adamw.lr},
          {"warmup", s.adamw.warmup_steps},
          {"lb-alpha", s.lb_alpha},
          {"c-prime", s.mpi.c_prime},
          {"power-steps", s.mpi.power_steps},
          {"seed", s.seed},
          {"corpus_tokens", corpus.tokens.size()}};
}

PretrainRun::PretrainRun(PretrainPlan plan, const Corpus& corpus,
                         const std::optional<lm::LmTrainerState>& resumed)
    : plan_(checked(std::move(plan), corpus)), origin_(corpus.origin), files_(corpus.files),
      train_tokens_(corpus.train_size), validation_tokens_(corpus.validation_size()),
      identity_(pretrain_identity(plan_, corpus)),
      trainer_(plan_.config, plan_.settings, slice(corpus, true), slice(corpus, false)) {
  if (resumed)
    trainer_.import_state(*resumed);
  first_ = trainer_.step_index();
}

PretrainRun::~PretrainRun() = default; // the writer's destructor closes without throwing

nlohmann::json PretrainRun::record_config(const nlohmann::json& extra) const {
  nlohmann::json config = identity_;
  config["command"] = "pretrain";
  config["variants"] = plan_.settings.variants;
  config["corpus"] = origin_;
  config["train_tokens"] = train_tokens_;
  config["validation_tokens"] = validation_tokens_;
  config["eval_every"] = plan_.eval_every;
  config["align_every"] = plan_.align_every;
  config["eval_windows"] = plan_.settings.eval_windows;
  config["first_step"] = first_;
  if (extra.is_object())
    config.update(extra);
  return config;
}

RecordIdentity PretrainRun::record_identity() const {
  return {origin_, "mixtral", files_};
}

void PretrainRun::record_to(const std::filesystem::path& path, const nlohmann::json& extra_config) {
  const nlohmann::json config = record_config(extra_config);
  record_ =
      std::make_unique<RunRecordWriter>(path, "pretraining", config.dump(), record_identity());
  for (const auto& name : plan_.settings.variants)
    declare_pretrain_variant(*record_, name, std::size_t(plan_.config.layers),
                             std::size_t(plan_.config.experts));
  record_->start_live();
}

void PretrainRun::close_record() {
  if (record_)
    record_->close();
  record_.reset();
}

double PretrainRun::tokens_per_step() const {
  return double(plan_.settings.variants.size()) * plan_.settings.batch * plan_.config.ctx;
}

void PretrainRun::step() {
  const int step = trainer_.step_index();
  const bool final_step = step + 1 == plan_.settings.steps;
  std::vector<lm::LmVariantEval> eval;
  std::vector<lm::LmVariantAlignment> align;
  if (step % plan_.eval_every == 0 || final_step)
    last_eval_ = eval = trainer_.evaluate();
  if (step % plan_.align_every == 0 || final_step)
    last_align_ = align = trainer_.alignment();
  last_ = trainer_.step();
  last_rows_.clear();
  for (std::size_t v = 0; v < last_.size(); ++v) {
    last_rows_.push_back(record_row(last_[v], plan_.settings.lb_alpha,
                                    eval.empty() ? nullptr : &eval[v],
                                    align.empty() ? nullptr : &align[v]));
    if (record_)
      add_pretrain_step(*record_, last_rows_.back());
  }
}

double mean_lambda(const lm::LmVariantAlignment& a) {
  double sum = 0;
  for (const auto& l : a.layers)
    sum += l.mean_lambda;
  return a.layers.empty() ? std::nan("") : sum / double(a.layers.size());
}

} // namespace routerscope::io
