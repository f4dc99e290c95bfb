#pragma once
// The Model view and what every view of a checkpoint shares: opening a checkpoint or run record
// on a background job (the open job reads a record's replay too), the opened model with its
// alignment table, the layers × experts heatmap of |cos| or λ (hover for values, click to
// select), the per-layer table, the sidebar's model facts and the selection (layer, expert).
// What an opened record replays is routed by App to the panel that shows it.
#include "app/gui/heatmap.h"
#include "app/gui/names.h"
#include "app/gui/panel.h"
#include "app/gui/session.h"
#include "core/figure.h"
#include "core/jobs.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

namespace routerscope::gui {

class ModelPanel {
public:
  ModelPanel(); // needs a current GL context (the heatmap's shader)
  ~ModelPanel();
  ModelPanel(const ModelPanel&) = delete;
  ModelPanel& operator=(const ModelPanel&) = delete;

  // Opens `path` (a checkpoint, or a .h5 run record with the checkpoint it was recorded on) on a
  // job, aligning every MoE layer by `matrix` on `backend`; a running open is cancelled first.
  void open(const std::string& path, ExpertMatrix matrix,
            std::shared_ptr<const ComputeBackend> backend);
  bool opening() const { return slot_.running(); }
  Job* job() const { return slot_.job(); }
  const std::string& opening_path() const { return opening_path_; }
  struct Opened {
    JobStatus status;
    std::shared_ptr<const OpenedModel> model; // null for a pretraining record
    std::shared_ptr<const Replay> replay;     // null for a checkpoint
  };
  // Once per frame: what the open job produced, once, when it ended.
  std::optional<Opened> poll();

  const std::shared_ptr<const OpenedModel>& model() const { return model_; }
  // Shows `model` (just opened): first layer and expert selected, heatmap redrawn.
  void show(std::shared_ptr<const OpenedModel> model);

  // Selects decoder layer `layer`, expert `expert`; returns whether the layer changed. BadInput
  // without a model, for a layer that is not an MoE layer or an expert out of range.
  bool select(int layer, int expert);
  void select_layer(int layer); // the row of `layer`, when it is one (a replay's layer)
  const LayerAlignment* selected_layer() const;
  int selected_expert() const { return sel_expert_; }

  Metric metric() const { return metric_; }
  void set_metric(Metric m) {
    metric_ = m;
    heatmap_dirty_ = true;
  }

  struct Pick { // a selection asked for by a click or slider
    int layer, expert;
  };
  // The sidebar's Model and Selection sections, and the layer summary when `summary`.
  std::optional<Pick> draw_sidebar(bool summary);
  std::optional<Pick> draw(); // the heatmap and the per-layer table
  Figure heatmap_figure() const;
  // opened_path, metric, selected_layer, selected_expert, family, layout, moe_layers, experts
  void state(nlohmann::json& j) const;

private:
  struct OpenResult {
    std::shared_ptr<const OpenedModel> model;
    std::shared_ptr<const Replay> replay;
  };
  std::string opening_path_;
  std::shared_ptr<const OpenedModel> model_;
  std::unique_ptr<HeatmapRenderer> heatmap_;
  bool heatmap_dirty_ = true;
  Metric metric_ = Metric::Cos;
  std::pair<double, double> colour_limits_{0,
                                           1}; // of the heatmap drawn last (View ▸ Heatmap colours)
  int sel_row_ = 0, sel_expert_ = 0;           // row = index into model_->alignment

  JobSlot<OpenResult> slot_; // last: its job is cancelled and joined first
};

} // namespace routerscope::gui
