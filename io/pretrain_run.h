#pragma once
// One pretraining run as `routerscope pretrain` and the GUI's Pretraining view both drive it: an
// lm::LmTrainer over a corpus, validation and alignment at their cadence (and at the last step),
// and, when asked, the live run record (kind "pretraining", io/pretrain_record.h) written as the
// steps land. The caller owns the loop (one step() per iteration), so a CLI progress bar, Ctrl-C, a
// GUI job's cancellation and --resume all fit around it.
#include "core/lm/lm_trainer.h"
#include "io/lm_corpus.h"
#include "io/pretrain_record.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

struct PretrainPlan {
  lm::LmConfig config;
  lm::LmSettings settings;
  int eval_every = 50, align_every = 50; // validation / alignment cadence in steps
};

// The settings that make a run what it is (a --resume folder must match every one of them).
nlohmann::json pretrain_identity(const PretrainPlan& plan, const Corpus& corpus);

class PretrainRun {
public:
  // Validates the plan against the corpus (BadInput naming the option) and builds the trainer;
  // `resumed` continues an exported state.
  PretrainRun(PretrainPlan plan, const Corpus& corpus,
              const std::optional<lm::LmTrainerState>& resumed = std::nullopt);
  ~PretrainRun();
  PretrainRun(const PretrainRun&) = delete;
  PretrainRun& operator=(const PretrainRun&) = delete;

  // Creates the run record at `path` (kind "pretraining", the run's settings as its config),
  // declares every series and starts live (SWMR) writing: readers may open it from here on.
  // `extra_config` entries are added to the stored config (e.g. the front end that ran it).
  void record_to(const std::filesystem::path& path, const nlohmann::json& extra_config = {});
  // The record's config (the run's settings, `extra` entries added) and identity (the corpus).
  nlohmann::json record_config(const nlohmann::json& extra = {}) const;
  RecordIdentity record_identity() const;
  // Commits and closes the record (a no-op without one).
  void close_record();

  bool done() const { return trainer_.step_index() >= plan_.settings.steps; }
  int step_index() const { return trainer_.step_index(); }
  int first_step() const { return first_; }
  // One training step of every variant, with validation / alignment first when due (they describe
  // the parameters of this step's forward pass); the step's rows go to the record.
  void step();

  const PretrainPlan& plan() const { return plan_; }
  const std::string& corpus_origin() const { return origin_; }
  std::size_t train_tokens() const { return train_tokens_; }
  std::size_t validation_tokens() const { return validation_tokens_; }
  const nlohmann::json& identity() const { return identity_; }
  const lm::LmTrainer& trainer() const { return trainer_; }
  double tokens_per_step() const; // every variant's tokens of one step
  // The last step's results, the last validation and the last alignment (one per variant).
  const std::vector<lm::LmVariantStep>& last() const { return last_; }
  const std::vector<lm::LmVariantEval>& last_eval() const { return last_eval_; }
  const std::vector<lm::LmVariantAlignment>& last_align() const { return last_align_; }
  // The last step's record rows (one per variant), exactly as appended to the record.
  const std::vector<PretrainStepRow>& last_rows() const { return last_rows_; }

private:
  PretrainPlan plan_;
  std::string origin_;
  std::vector<std::pair<std::string, std::uint64_t>> files_;
  std::size_t train_tokens_ = 0, validation_tokens_ = 0;
  nlohmann::json identity_;
  lm::LmTrainer trainer_;
  int first_ = 0;
  std::unique_ptr<RunRecordWriter> record_;
  std::vector<lm::LmVariantStep> last_;
  std::vector<lm::LmVariantEval> last_eval_;
  std::vector<lm::LmVariantAlignment> last_align_;
  std::vector<PretrainStepRow> last_rows_;
};

// Mean over layers of a variant's mean λ (NaN without layers).
double mean_lambda(const lm::LmVariantAlignment& a);

} // namespace routerscope::io
