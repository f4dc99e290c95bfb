#pragma once
// The GUI application: state, per-frame drawing of the panels, and the actions that both the
// mouse/keyboard and the screenshot script drive (open, select, step, play, export, view, theme).
#include "app/gui/convergence_panel.h"
#include "app/gui/expert_panel.h"
#include "app/gui/export_panel.h"
#include "app/gui/figure_view.h"
#include "app/gui/file_browser.h"
#include "app/gui/gl.h"
#include "app/gui/gui.h"
#include "app/gui/imgui_canvas.h"
#include "app/gui/model_panel.h"
#include "app/gui/names.h"
#include "app/gui/pretrain_panel.h"
#include "app/gui/record_follower.h"
#include "app/gui/series_panel.h"
#include "app/gui/session.h"
#include "app/gui/training_panel.h"
#include "core/compute_backend.h"
#include "core/figure.h"
#include "core/jobs.h"
#include "core/training.h"
#include "io/run_record.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct GLFWwindow;

namespace routerscope::gui {

class App {
public:
  // `window` null: headless frames (app/gui/headless.h), without GLFW, GL or a display.
  App(GLFWwindow* window, const GuiOptions& options);
  ~App();

  // One UI frame (ImGui NewFrame .. Render); the caller binds the target and renders draw data.
  void frame();
  bool quit_requested() const { return quit_; }
  bool busy() const;         // a background job runs, or playback is on
  bool jobs_running() const; // a background job runs (what a script waits for)

  // ---- actions (menus, shortcuts, drag-and-drop and scripts) ----
  void open(const std::string& path);
  // Opens a run record its run still writes and keeps its plots growing as steps land (File >
  // Follow run...); opening anything else stops following.
  void follow(const std::string& path);
  void select(int layer, int expert); // decoder layer index, expert index
  void step(int n);                   // n MPI steps (creates the run when needed)
  void set_playing(bool playing);
  void set_view(View v);
  void set_theme(Theme t);
  void set_metric(Metric m) { model_panel_.set_metric(m); }
  // Sets a setting of the sidebar by its script name: an MPI setting (ConvergencePanel::
  // set_setting; a change keeps the convergence run on screen as the previous run to compare
  // with, as the sidebar does) or a training one (TrainingPanel::set_setting).
  void set_setting(const std::string& name, const std::string& value);
  void clear_previous_runs(); // Clear previous run, in both modes
  // Exports `figure` (convergence|alignment|norms|load|maxvio|heatmap for convergence stepping,
  // training|training-load|training-norms for router training) to `file` (.png/.svg/.pdf/.csv
  // through io/figure_export.h), or the session (figure "session": the current MPI mode's run) to a
  // .h5 run record. Runs as a job; errors go to the error dialog and export_error(). A figure is
  // exported as the screen shows it: the View options and, for the figure on screen or another
  // of its panel, the zoom. A file that exists is replaced only with `replace`; otherwise the
  // "Replace FILE?" question opens (export_question(), answered by answer_export).
  void export_figure(const std::string& figure, const std::string& file, bool replace = false);
  const std::optional<ExportPanel::Request>& export_question() const {
    return exporter_.question();
  }
  // The question's Replace (true) or Cancel; BadInput when none is open.
  void answer_export(bool replace);
  // File ▸ Export figure... (Ctrl+E): the dialog, at the figure on screen.
  void open_export_dialog() { exporter_.open_dialog(false, screen_figure()); }
  ExportPanel& exporter() { return exporter_; } // the dialog (scripts use its Browse…)
  // Shows figure `name` (one of Export's figure names but session): its view, mode and page, as
  // the view buttons and the figure choices do. BadInput for another name.
  void show_figure(const std::string& name);
  // The figure on screen: what Export offers first and what zoom() zooms.
  std::string screen_figure() const;
  // Zooms the figure on screen to steps [x0, x1] (and every panel's y to [y0, y1] unless y1 <= y0),
  // as wheel and drag do; BadInput when the figure on screen does not zoom or the range is empty.
  void zoom(double x0, double x1, double y0, double y1);
  // Trains the selected layer's router for `steps` steps with the sidebar's variants (a job).
  void start_training(int steps);
  // Pretrains a small MoE LM from scratch for `steps` steps with the Pretraining view's settings
  // (a job; the view shows it live).
  void start_pretraining(int steps);
  // Measures the checkpoints `paths` name as a series in the Series view (a job; the view shows
  // it live). Errors in the settings open the error dialog.
  void open_series(const std::vector<std::string>& paths);
  SeriesPanel& series() { return series_; } // the Series view (scripts scrub and select in it)
  void set_mpi_mode(int mode) { mpi_mode_ = mode; }
  void browse(const std::string& folder) { browser_.open(folder); } // File > Open at `folder`
  // Screenshot-mode test pattern drawn over the window ("zigzag": a steep zig-zag polyline through
  // ImGuiCanvas, as figure lines are drawn; its points are in the state JSON). BadInput for
  // another name.
  void show_test_pattern(const std::string& name);
  FileBrowser& browser() { return browser_; } // File > Open itself (scripts drive its places)
  // Input exactly as GLFW delivers it (scripts use these to exercise shortcuts and drag-and-drop).
  void key(int glfw_key, bool ctrl, bool press);
  void drop(const std::string& path);
  // Compute backend for the following jobs; an unusable GPU opens the error dialog.
  void set_device(Device device);

  std::string state_json() const; // opened path, view, selection, step index, error text, ...
  Theme theme() const { return theme_; }
  // Complete steps shown of the record being followed (0 before it is shown or when none is).
  int followed_steps() const;
  const std::string& error() const { return error_; }
  // Why the last export_figure could not be done (its own check or its job), empty when it was.
  const std::string& export_error() const { return exporter_.error(); }

private:
  void poll_jobs();
  void apply_scale();
  void draw_menu();
  void draw_toolbar();
  void draw_sidebar();
  void draw_mpi_view();
  void draw_status_bar();
  void draw_test_pattern();
  void draw_error_dialog();
  void handle_shortcuts();
  void show_error(const std::string& message);
  void start_detail_job();
  void reset_mpi();            // forgets the convergence run and the previous one
  void mpi_settings_changed(); // the run on screen becomes the previous run
  void launch_mpi_job(int steps);
  void show_opened(const ModelPanel::Opened& opened); // routes what an open produced
  const std::shared_ptr<const OpenedModel>& model() const { return model_panel_.model(); }
  ModelContext model_context() const;
  // The figure model (core/figure.h) of a named view, exactly as exported.
  Figure build_figure(const std::string& figure) const;
  const PlotView* zoom_of(const std::string& figure) const; // nullptr: the figure does not zoom

  GLFWwindow* window_;
  GuiOptions options_;
  std::shared_ptr<const ComputeBackend> backend_; // chosen once from --device
  std::string device_note_;
  float scale_ = 1.0f;
  Theme theme_ = Theme::Dark;
  View view_ = View::Model;
  bool quit_ = false;

  // The model (open, heatmap, selection) and the expert detail
  ModelPanel model_panel_;
  ExpertPanel expert_;

  // MPI convergence run
  ConvergencePanel convergence_;
  std::string replaying_; // the .h5 record shown on the timeline, empty for a live run
  TexturePool figure_textures_;

  // Router training (MPI view, training mode)
  int mpi_mode_ = 0; // 0 convergence stepping, 1 router training
  TrainingPanel training_;

  // Export (the dialog and its job)
  ExportPanel exporter_;

  // Test pattern (screenshot mode): its name and the points drawn last frame, in pixels.
  std::string test_pattern_;
  std::vector<ImVec2> pattern_points_;
  static constexpr float kPatternWidth = 2.0f; // px, a figure line's width at the UI font size

  // Pretraining (its own panel: settings, job, figures)
  PretrainPanel pretrain_;

  // A series of checkpoints on one timeline (its own panel: settings, job, figures)
  SeriesPanel series_;

  // Following a growing run record
  std::unique_ptr<RecordFollower> follower_;
  bool follow_pick_ = false; // the file browser was opened by File > Follow run...

  // Dialogs and files
  std::string error_, pending_error_;
  std::string status_;
  RecentFiles recent_;
  FileBrowser browser_;
  std::vector<std::string> dropped_;
  friend void drop_callback(GLFWwindow*, int, const char**);
};

} // namespace routerscope::gui
