#pragma once
// Convergence stepping (the MPI view's first mode): R_{t+1} = MPI(R_t) on the selected layer,
// stepped on a background job (Step, Step ×N, Play at a speed, Reset) and measured every step;
// its pages are tan θ to u₁ with the power-iteration bound (the record figure "convergence", as
// `plot` draws it from the saved session) and |cos|, norms and load. The sidebar's MPI settings
// live here (router training uses them too). An opened or followed convergence record replays on
// the timeline.
#include "app/gui/figure_view.h"
#include "app/gui/panel.h"
#include "core/figure.h"
#include "core/jobs.h"
#include "core/mpi.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::gui {

class ConvergencePanel {
public:
  ConvergencePanel();

  MpiSettings settings() const; // the sidebar's MPI settings (matrix, C′, k, ablation, gating)
  // Forgets the run: cancels and joins its job, stops playing, clears the steps and the views.
  void reset();
  bool has_run() const { return stepper_ != nullptr; } // a live run to advance (not a replay)
  // Advances the run (created first when there is none) by `steps` steps on a job, on ctx's
  // selected layer; does nothing without a model. While a step job runs the steps are queued
  // and take_queued() hands them out once it has finished (→ pressed 20 times runs 20 steps).
  void launch(const ModelContext& ctx, int steps);
  int take_queued(); // queued steps due now (the job has finished), else 0
  // Moves the timeline by `delta` steps (← and →-less scrubbing) or to its first or last step
  // (Home, End: End follows new steps again).
  void scrub(int delta);
  void scrub_to_end(bool last);
  void follow_latest() { follow_ = true; }
  // Shows a convergence record's run (opened: stepping afterwards starts a fresh run).
  void show_replay(int layer, std::vector<MpiStepRecord> records);
  void update_replay(std::vector<MpiStepRecord> records); // a followed record grew

  void set_playing(bool playing);
  bool playing() const { return playing_; }
  // Once per frame: picks up the latest steps and the job's end (the error text once, else
  // empty); `layer` names the layer in the message.
  std::string poll(int layer);
  // Steps due now while playing (at `speed_` per second, one job at a time); 0 otherwise.
  int play_due();

  // The sidebar's MPI settings; true when one changed (the caller calls keep_as_previous).
  bool draw_settings(float width);
  // Sets one of the sidebar's MPI settings by its script name: c-prime X (0.5–16), power-steps K
  // (1–10), matrix gate|up|down, ablation none|no-power|no-retract, gating softmax-topk|
  // topk-softmax. True when the value changed; BadInput naming the setting and what it takes.
  bool set_setting(const std::string& name, const std::string& value);
  // The settings changed: the run on screen, when it has steps, becomes the previous run (drawn
  // dash-dot in the same figures to compare with, its settings in its label; `replaying` names
  // the record replayed, empty for a live run) and stepping starts a fresh run. Nothing is lost.
  void keep_as_previous(const std::string& replaying);
  void clear_previous() { previous_.reset(); }
  bool has_previous() const { return previous_.has_value(); }
  int probe_tokens() const { return defaults_.probe_tokens; }
  struct Action {       // what the transport controls asked for
    int step = 0;       // steps to run
    bool reset = false; // Reset pressed
  };
  Action draw(const DrawContext& dc, const ModelContext& ctx, const std::string& replaying);
  Job* job() const { return slot_.job(); }
  bool running() const { return slot_.running(); }

  // Figure `name` (convergence | alignment | norms | load | maxvio) for ctx's selection.
  Figure figure(const std::string& name, const ModelContext& ctx) const;
  // The figure on screen: convergence, or alignment on the page of |cos|, norms and load.
  std::string shown_figure() const { return page_ == 0 ? "convergence" : "alignment"; }
  // Shows the page of `name` (convergence; alignment, norms, load); false for another name.
  bool show(const std::string& name) {
    const bool other = name == "alignment" || name == "norms" || name == "load";
    if (name != "convergence" && !other)
      return false;
    page_ = other ? 1 : 0;
    return true;
  }
  // The zoom of figure `name` on screen (convergence, alignment, norms, load), else nullptr.
  const PlotView* zoom(const std::string& name) const;
  bool has_steps() const { return records_ && !records_->empty(); }
  int steps_recorded() const { return records_ ? int(records_->size()) : 0; }
  // The step under the timeline's cursor (null before the first step).
  const MpiStepRecord* current() const {
    return has_steps() ? &(*records_)[std::size_t(std::clamp(timeline_, 0, steps_recorded() - 1))]
                       : nullptr;
  }
  std::function<void(const Progress&)> save_work(const std::string& file,
                                                 std::shared_ptr<const OpenedModel> model) const;
  // playing, step_index, steps_recorded, timeline_rect, mean_cos, mean_lambda, mean_norm, step_cos
  // and step_lambda (per expert) at the cursor, mpi_settings (the sidebar's), previous_run (null,
  // or its label, settings, steps and last step's means)
  void state(nlohmann::json& j) const;

private:
  // The run on screen as its session record (session.h convergence_record), rebuilt only when
  // its steps change. BadInput when no step is recorded.
  std::shared_ptr<const RunRecord> record(const OpenedModel* model) const;

  // Figure `name` of `recs` (alignment | norms | load | maxvio), stepped on ctx's selection.
  static Figure step_figure(const std::string& name, const std::vector<MpiStepRecord>& recs,
                            const ModelContext& ctx);

  // Settings: the defaults, the sidebar's, the current run's.
  MpiRunSettings defaults_, run_settings_;
  int power_steps_ = 1, ablation_ = 0, matrix_ = 0, order_ = 0;
  float c_prime_ = 4.0f;

  // The run: its stepper (advanced only by the job), the steps shown and the transport.
  struct StepperSlot {
    std::shared_ptr<MpiStepper> stepper;
  };
  std::shared_ptr<StepperSlot> stepper_;
  std::shared_ptr<const std::vector<MpiStepRecord>> records_;
  int timeline_ = 0;
  std::array<float, 4> timeline_rect_{}; // where the timeline was drawn last frame (pixels)
  bool follow_ = true, playing_ = false;
  float speed_ = 10.0f; // steps per second while playing
  int step_n_ = 10;
  int queued_ = 0; // steps asked for while a step job ran
  // The run before the last settings change, kept to compare with, and its figures as drawn.
  struct PreviousRun {
    std::string label; // its settings ("C′ 4, k 1, gate, ablation none, softmax, top-k")
    MpiRunSettings settings;
    std::shared_ptr<const std::vector<MpiStepRecord>> records;
    bool replay = false;
    mutable std::map<std::string, Figure> figures;
  };
  std::optional<PreviousRun> previous_;
  double play_credit_ = 0;
  std::chrono::steady_clock::time_point last_frame_;
  PlotView conv_view_, align_view_, norm_view_, load_view_;
  int page_ = 0; // tan θ (convergence) or |cos|, norms and load
  mutable std::shared_ptr<const std::vector<MpiStepRecord>> record_source_;
  mutable std::shared_ptr<const RunRecord> record_;
  mutable std::shared_ptr<const RunRecord> figure_source_;
  mutable std::shared_ptr<const Figure> figure_;

  JobSlot<std::vector<MpiStepRecord>> slot_; // last: its job is cancelled and joined first
};

} // namespace routerscope::gui
