#pragma once
// Router training (the MPI view's second mode): the selected layer's router trained with AdamW on
// the layer's own MoE output for each chosen variant (core/training.h), on a background job, and
// its figures drawn live: losses, MaxVio and λ per variant, the load over steps, router norms.
// The figures are io::record_figure's of the run's in-memory record (what `plot` draws from the
// file `train --record` writes). An opened or followed training record replays here.
#include "app/gui/figure_view.h"
#include "app/gui/panel.h"
#include "core/figure.h"
#include "core/jobs.h"
#include "core/mpi.h"
#include "core/training.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::gui {

class TrainingPanel {
public:
  // Trains ctx's selected layer for `steps` steps with the sidebar's variants and `mpi` (the
  // MPI settings). BadInput without a model or variant. The run on screen, when it has steps,
  // becomes the previous run: drawn dash-dot in the same figures (while the layer is the same),
  // its settings in its label, until clear_previous() or another model.
  void start(const ModelContext& ctx, const MpiSettings& mpi, int steps);
  void clear_previous() { previous_.reset(); }
  // Whether `name` is a setting of the sidebar's Training section: lr X, batch N (1–65536),
  // tokens synthetic|embeddings, variants NAME,NAME... (of vanilla, mpi, no-power, no-retract).
  static bool is_setting(const std::string& name);
  // Sets it (the next Train uses it); BadInput naming the setting and what it takes.
  void set_setting(const std::string& name, const std::string& value);
  int steps_setting() const { return steps_; } // the sidebar's steps
  // Forgets the run shown (a new model opened): stops its job and clears its steps.
  void clear();
  // Shows a training record's run (opened or followed); `records` replaces what is shown.
  void show_replay(int layer, const std::string& config, std::vector<TrainStepRecord> records);
  void update_replay(std::vector<TrainStepRecord> records); // a followed record grew

  // Once per frame: picks up the job's latest steps and its end; the error text once, else empty.
  std::string poll();
  void draw_settings(float width); // the sidebar's Training section
  // The main area; true when Train was pressed (the caller starts the run).
  bool draw(const DrawContext& dc, const std::string& replaying);
  Job* job() const { return slot_.job(); }
  bool running() const { return slot_.running(); }

  // Figure `name` (training | training-load | training-norms), as exported.
  Figure figure(const std::string& name) const;
  std::string shown_figure() const;   // the figure on screen
  bool show(const std::string& name); // shows figure `name`; false for another name
  // The zoom of figure `name` (every training figure shares the screen's one), nullptr for another.
  const PlotView* zoom(const std::string& name) const;
  bool has_steps() const { return records_ && !records_->empty(); }
  int steps() const { return has_steps() ? records_->back().step + 1 : 0; }
  // The work of saving the run shown as an HDF5 record to `file` (a job's body); BadInput when
  // there is nothing to save or the run is still going.
  std::function<void(const Progress&)> save_work(const std::string& file,
                                                 std::shared_ptr<const OpenedModel> model) const;
  // training_steps, training_layer, training_label (the run's settings), training_previous (null,
  // or its label, steps and layer)
  void state(nlohmann::json& j) const;

private:
  // Settings (the sidebar).
  bool variants_[4] = {true, true, false, false};
  int tokens_ = 0, steps_ = 200, batch_ = 256;
  float lr_ = 1e-3f;

  // The run shown.
  std::shared_ptr<const std::vector<TrainStepRecord>> records_;
  int layer_ = 0;
  std::string config_; // JSON settings of the shown run (saved with the session)
  int timeline_ = 0, figure_ = 0;
  bool follow_ = true;
  PlotView view_;
  // The run as an in-memory record and the last figure drawn from it, rebuilt only when the
  // records or the figure change (not every frame on the UI thread).
  mutable std::shared_ptr<const std::vector<TrainStepRecord>> record_source_;
  mutable std::shared_ptr<const RunRecord> record_;
  mutable std::map<std::string, std::shared_ptr<const Figure>> figure_cache_; // by name

  // The run before the last Train, kept to compare with: its settings (config JSON), steps and
  // figures as drawn.
  struct PreviousRun {
    std::string config;
    int layer = 0;
    std::shared_ptr<const std::vector<TrainStepRecord>> records;
    mutable std::map<std::string, Figure> figures;
  };
  std::optional<PreviousRun> previous_;

  JobSlot<std::vector<TrainStepRecord>> slot_; // last: its job is cancelled and joined first
};

} // namespace routerscope::gui
