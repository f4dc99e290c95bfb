#pragma once
// The Pretraining view: a small Mixtral LM trained from scratch with vanilla and MPI routers
// (the engine of `routerscope pretrain`, io::PretrainRun) on a background job, its settings,
// start/stop, and its figures drawn live — validation bits per byte, MaxVio, λ per layer, router
// norms and the expert load per layer over steps, the variants overlaid on the same axes. The
// figures are io::record_figure's of the run's record (the same figures `plot` draws from the
// file the run writes), so what the screen shows is what an export writes. An opened or followed
// pretraining record replays here on the timeline.
//
// The panel owns its job and the snapshot the job publishes in one JobSlot (core/jobs.h), declared
// last, so the destructor cancels and joins the job before anything else of the panel dies.
#include "app/gui/figure_view.h"
#include "app/gui/imgui_canvas.h"
#include "core/figure.h"
#include "core/jobs.h"
#include "io/pretrain_run.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::gui {

class PretrainPanel {
public:
  PretrainPanel();
  ~PretrainPanel();
  PretrainPanel(const PretrainPanel&) = delete;
  PretrainPanel& operator=(const PretrainPanel&) = delete;

  // Starts a run of `steps` steps (0: the settings' steps) with the sidebar's settings; the
  // record goes to the "record to" file, or a fresh file in the temporary folder. Errors in the
  // settings throw BadInput (the caller shows the dialog); errors while running arrive via poll().
  void start(int steps = 0);
  void stop(); // cancels the run after its current step; the record keeps every finished step
  bool running() const { return slot_.running(); }
  // Shows a pretraining record read from `path` (opened or followed); stops nothing.
  void show_record(std::shared_ptr<const RunRecord> record, const std::string& path);

  // Once per frame on the UI thread: picks up the job's latest steps and its end. Returns the
  // error text when the run failed (once), else empty.
  std::string poll();
  void draw_settings();                        // the sidebar
  void draw(bool dark, TexturePool& textures); // the main area
  std::string status() const;                  // for the status bar
  Job* job() { return slot_.job(); }           // for the toolbar's progress and Cancel

  // Figure `name` (one of figure_names()) for the layer chosen on screen, as exported.
  Figure figure(const std::string& name) const;
  static std::vector<std::string> figure_names();
  std::string shown_figure() const { return figure_names()[std::size_t(figure_)]; }
  bool show(const std::string& name) { // shows figure `name`; false for another name
    const auto names = figure_names();
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end())
      return false;
    figure_ = int(it - names.begin());
    return true;
  }
  // The zoom of figure `name` (the pretraining figures share the screen's one), else nullptr.
  const PlotView* zoom(const std::string& name) const {
    return name.starts_with("pretraining") ? &view_ : nullptr;
  }
  // Saves the shown run as an HDF5 record (a copy of the file the run wrote or was read from,
  // written to a temporary name and renamed). BadInput while the run is still going.
  void save_record(const std::string& file) const;

  int steps() const { return steps_; } // complete steps shown (every variant has them)
  const std::string& source() const { return source_; }
  nlohmann::json state() const;

private:
  struct Snapshot { // what the job publishes, a few times per second and at its end
    std::vector<io::PretrainStepRow> rows;
    std::string config;
    RecordIdentity identity;
    double tokens_per_s = 0;
  };
  void apply_preset(bool quick);

  // Settings (the sidebar); sizes start at `pretrain --quick`'s.
  io::PretrainPlan plan_;
  bool variants_[4] = {true, true, false, false};
  std::string corpus_, record_to_;
  float lr_ = 3e-3f, lb_alpha_ = 0.01f, c_prime_ = 4.0f;
  int seed_ = 0;

  // What is shown: a run of this panel (live) or a record read from a file.
  std::shared_ptr<const Snapshot> snapshot_;
  mutable std::shared_ptr<const Snapshot> record_source_;
  mutable std::shared_ptr<const RunRecord> record_;
  std::string source_; // the record file shown (the run's own, or the opened one)
  bool live_ = false;  // source_ is being written by this panel's job
  int steps_ = 0, total_steps_ = 0;
  double tokens_per_s_ = 0;
  std::chrono::steady_clock::time_point started_;

  // The figure on screen.
  int figure_ = 0, layer_ = -1; // layer -1: every layer
  int timeline_ = 0;
  bool follow_ = true;
  PlotView view_;
  mutable std::string cached_name_;
  mutable int cached_layer_ = -2;
  mutable std::shared_ptr<const RunRecord> cached_record_;
  mutable std::shared_ptr<const Figure> cached_figure_;

  JobSlot<Snapshot> slot_; // last: its job is cancelled and joined first
};

} // namespace routerscope::gui
