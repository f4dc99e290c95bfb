#pragma once
// The Series view (issue 16): a training run's checkpoints on one timeline. Either a series record
// opened from a file (`routerscope series --record`, File > Open, `gui S.h5`), or checkpoints
// measured here on a background job (the engine of `routerscope series`, io::SeriesRun) from the
// sidebar's paths (folders, globs, a parent folder of checkpoints), whose live record grows as
// checkpoints finish. A timeline scrubs checkpoints; for the checkpoint under the cursor the view
// shows the layers × experts heatmap of |cos| or λ and the selected expert's values, beside the
// record figures series-alignment, series-norms and series-load (io::record_figure of the record,
// so what the screen shows is what an export writes) with a cursor line at the scrubbed step.
//
// The panel owns its job and the snapshot the job publishes; the job is declared last, so the
// destructor cancels and joins it before anything it publishes into dies.
#include "app/gui/heatmap.h"
#include "app/gui/imgui_canvas.h"
#include "core/compute_backend.h"
#include "core/figure.h"
#include "core/jobs.h"
#include "core/series.h"
#include "io/run_record.h"
#include "io/series.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace routerscope::gui {

class SeriesPanel {
public:
  SeriesPanel();
  ~SeriesPanel();
  SeriesPanel(const SeriesPanel&) = delete;
  SeriesPanel& operator=(const SeriesPanel&) = delete;

  // Measures the checkpoints `paths` name (empty: the sidebar's paths, one per line) with the
  // sidebar's settings on a background job, recording to the sidebar's "record to" file or a
  // fresh file in the temporary folder. Errors in the paths or settings arrive via poll().
  // BadInput for malformed settings (the layers list) or when a run is going.
  void start(std::vector<std::string> paths = {});
  // The compute backend of the following runs (null: the CPU).
  void set_backend(std::shared_ptr<const ComputeBackend> backend) { backend_ = std::move(backend); }
  void stop(); // cancels after the current checkpoint's layer; the record keeps finished ones
  bool running() const { return slot_.running(); }
  // Shows a series record read from `path`. BadInput naming the file when it holds no checkpoint
  // or does not read as a series record.
  void show_record(std::shared_ptr<const RunRecord> record, const std::string& path);

  // Once per frame on the UI thread: picks up finished checkpoints and the job's end. Returns the
  // error text when the run failed or could not start (once), else empty.
  std::string poll();
  void draw_settings();                        // the sidebar
  void draw(bool dark, TexturePool& textures); // the main area
  std::string status() const;                  // for the status bar
  Job* job() { return slot_.job(); }           // for the toolbar's progress and Cancel

  // Figure `name` (one of figure_names()) of the shown series, every layer, as `plot` draws it.
  Figure figure(const std::string& name) const;
  static std::vector<std::string> figure_names();
  std::string shown_figure() const { return figure_names()[std::size_t(figure_)]; }
  // Saves the shown series as its HDF5 record (a copy of the file the run wrote or was read from).
  // BadInput while the run is still going.
  void save_record(const std::string& file) const;

  // Moves the timeline to checkpoint `index` (BadInput when out of range).
  void set_cursor(int index);
  int cursor() const { return cursor_; }
  // Shows figure `name` (one of figure_names()); BadInput for another or series-load without load.
  void set_figure(const std::string& name);
  // Selects (layer, expert) for the expert values (BadInput when the series has no such one).
  void select(int layer, int expert);
  int checkpoints() const { return int(data_.steps.size()); }
  const std::string& source() const { return source_; }
  nlohmann::json state() const;

private:
  struct Snapshot { // what the job publishes after each checkpoint
    std::vector<std::int64_t> steps;
    std::vector<std::vector<SeriesLayerPoint>> points;
    std::string config;
    RecordIdentity identity;
    int total = 0;
  };
  void set_record(std::shared_ptr<const RunRecord> record, const std::string& origin);
  void draw_heatmap(float height);
  void draw_expert_values();
  double value(const char* name, int row, int expert) const; // NaN when absent

  // Settings (the sidebar).
  std::string paths_, layers_, tokens_, cache_, record_to_;
  int matrix_ = 0, method_ = 1; // gate; lanczos
  std::shared_ptr<const ComputeBackend> backend_;
  std::string pending_error_; // a Start from the sidebar that could not start

  // What is shown: a run of this panel (live) or a record read from a file.
  std::shared_ptr<const Snapshot> snapshot_;
  std::shared_ptr<const RunRecord> record_;
  io::SeriesData data_;
  std::string source_;
  bool live_ = false;
  int total_ = 0;

  // On screen.
  int cursor_ = 0, row_ = 0, expert_ = 0, figure_ = 0;
  bool follow_ = true, lambda_ = false;
  std::unique_ptr<HeatmapRenderer> heatmap_; // created on first draw (needs the GL context)
  bool heatmap_dirty_ = true;
  // The heatmap's colour limits: View ▸ Heatmap colours (default: the data's min–max) over the
  // metric at every checkpoint, so the scale stays put while the timeline scrubs. Cached by
  // (data shown, metric, range).
  std::pair<double, double> colour_limits() const;
  int data_generation_ = 0; // counts the data shown (a new series or more checkpoints)
  mutable std::tuple<int, bool, int> limits_key_{-1, false, -1};
  mutable std::pair<double, double> limits_{0.0, 1.0};
  mutable std::string cached_name_;
  mutable std::shared_ptr<const RunRecord> cached_record_;
  mutable std::shared_ptr<const Figure> cached_figure_;

  JobSlot<Snapshot> slot_; // last: its job is cancelled and joined before anything else dies
};

} // namespace routerscope::gui
