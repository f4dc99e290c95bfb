#include "app/gui/app.h"

#include "app/common/demo.h"
#include "app/gui/help_text.h"
#include "app/gui/ui_font.h"
#include "app/gui/widgets.h"
#include "core/error.h"
#include "core/figure_builders.h"
#include "core/mpi_convergence.h"
#include "core/number_format.h"
#include "core/training.h"
#include "io/figure_export.h"
#include "io/record_figures.h"

#include <backends/imgui_impl_glfw.h>

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_internal.h>
#include <imgui_stdlib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace routerscope::gui {

namespace fs = std::filesystem;

void drop_callback(GLFWwindow* window, int count, const char** paths) {
  auto* app = static_cast<App*>(glfwGetWindowUserPointer(window));
  if (app && count > 0)
    app->dropped_.emplace_back(paths[0]);
}

App::App(GLFWwindow* window, const GuiOptions& options)
    : window_(window), options_(options), scale_(options.ui_scale) {
  BackendChoice choice = choose_backend(parse_device(options.device), 2);
  backend_ = std::move(choice.backend);
  device_note_ = choice.note;
  series_.set_backend(backend_);
  if (window_) {
    glfwSetWindowUserPointer(window_, this);
    glfwSetDropCallback(window_, drop_callback);
  }
  recent_.load();
  set_theme(value_of(kThemeNames, options.theme).value_or(Theme::Dark));
  if (!options.settings_warning.empty())
    status_ = options.settings_warning;
}

App::~App() {
  // The panels' jobs are cancelled and joined by their JobSlots, before their snapshots die.
  if (window_)
    glfwSetWindowUserPointer(window_, nullptr);
}

void App::key(int glfw_key, bool ctrl, bool press) {
  if (!window_) { // headless frames: no GLFW backend; the key state it would set, set here
    ImGuiIO& io = ImGui::GetIO();
    io.KeysDown[glfw_key] = press;
    io.KeyCtrl = ctrl && press;
    return;
  }
  // Through the backend's own GLFW key callback, modifier first, as a keyboard delivers them.
  const int action = press ? GLFW_PRESS : GLFW_RELEASE;
  const int mods = ctrl ? GLFW_MOD_CONTROL : 0;
  if (ctrl && press)
    ImGui_ImplGlfw_KeyCallback(window_, GLFW_KEY_LEFT_CONTROL, 0, action, mods);
  ImGui_ImplGlfw_KeyCallback(window_, glfw_key, 0, action, mods);
  if (ctrl && !press)
    ImGui_ImplGlfw_KeyCallback(window_, GLFW_KEY_LEFT_CONTROL, 0, action, 0);
}

void App::set_device(Device device) {
  try {
    BackendChoice choice = choose_backend(device, 2);
    backend_ = std::move(choice.backend);
    device_note_ = choice.note;
    series_.set_backend(backend_);
    status_ = choice.note + " (used by the next analysis; File > Open again to recompute)";
  } catch (const Error& e) {
    show_error(e.what());
  }
}

void App::drop(const std::string& path) {
  if (!window_) { // headless frames: what the drop callback would queue
    dropped_.push_back(path);
    return;
  }
  const char* paths[] = {path.c_str()};
  drop_callback(window_, 1, paths);
}

bool App::jobs_running() const {
  return model_panel_.opening() || expert_.running() || convergence_.running() ||
         exporter_.running() || training_.running() || pretrain_.running() || series_.running();
}

bool App::busy() const {
  return jobs_running() || convergence_.playing();
}

void App::show_error(const std::string& message) {
  error_ = message;
  pending_error_ = message;
}

// ---------------------------------------------------------------- actions

void App::follow(const std::string& path) {
  follower_ = std::make_unique<RecordFollower>(path);
  status_ = follower_->status();
}

void App::open(const std::string& path) {
  if (follower_ && follower_->path() != path)
    follower_.reset();
  model_panel_.open(path, convergence_.settings().matrix, backend_);
}

void App::select(int layer, int expert) {
  const bool layer_changed = model_panel_.select(layer, expert);
  start_detail_job();
  if (layer_changed)
    reset_mpi();
}

void App::start_detail_job() {
  expert_.start(model_context());
}

void App::reset_mpi() {
  convergence_.reset();
  convergence_.clear_previous(); // a previous run belongs to the layer and model it ran on
  replaying_.clear();
}

void App::mpi_settings_changed() {
  // A convergence record on screen is a replay (a training replay leaves convergence empty).
  const bool replay = convergence_.has_steps() && !replaying_.empty();
  convergence_.keep_as_previous(replay ? replaying_ : "");
  if (replay)
    replaying_.clear();
}

void App::set_setting(const std::string& name, const std::string& value) {
  if (TrainingPanel::is_setting(name))
    training_.set_setting(name, value); // used by the next Train
  else if (convergence_.set_setting(name, value))
    mpi_settings_changed();
}

void App::clear_previous_runs() {
  convergence_.clear_previous();
  training_.clear_previous();
}

void App::launch_mpi_job(int steps) {
  if (!model() || model()->alignment.empty())
    return;
  if (!convergence_.running() && (!convergence_.has_run() || !replaying_.empty()))
    reset_mpi();
  convergence_.launch(model_context(), steps); // queued while a step job runs
}

void App::step(int n) {
  if (!model())
    throw_input_error("step: no model is open");
  convergence_.follow_latest();
  launch_mpi_job(n);
}

void App::set_playing(bool playing) {
  convergence_.set_playing(playing && model() != nullptr);
}

void App::set_view(View v) {
  view_ = v;
  if (v == View::Expert && expert_.idle())
    start_detail_job();
}

void App::set_theme(Theme t) {
  theme_ = t;
  ImGuiStyle& style = ImGui::GetStyle();
  style = ImGuiStyle();
  if (t == Theme::Dark) {
    ImGui::StyleColorsDark(&style);
    ImVec4* c = style.Colors;
    c[ImGuiCol_WindowBg] = ImVec4(0.11f, 0.12f, 0.14f, 1.0f);
    c[ImGuiCol_ChildBg] = ImVec4(0.13f, 0.14f, 0.16f, 1.0f);
    c[ImGuiCol_FrameBg] = ImVec4(0.17f, 0.18f, 0.21f, 1.0f);
    c[ImGuiCol_MenuBarBg] = ImVec4(0.09f, 0.10f, 0.12f, 1.0f);
    c[ImGuiCol_Header] = ImVec4(0.22f, 0.36f, 0.55f, 0.8f);
    c[ImGuiCol_Button] = ImVec4(0.20f, 0.22f, 0.27f, 1.0f);
    c[ImGuiCol_ButtonHovered] = ImVec4(0.26f, 0.40f, 0.60f, 1.0f);
    c[ImGuiCol_TableRowBgAlt] = ImVec4(1, 1, 1, 0.03f);
    c[ImGuiCol_Border] = ImVec4(0.30f, 0.32f, 0.36f, 0.6f);
  } else {
    ImGui::StyleColorsLight(&style);
    ImVec4* c = style.Colors;
    c[ImGuiCol_WindowBg] = ImVec4(0.96f, 0.96f, 0.97f, 1.0f);
    c[ImGuiCol_ChildBg] = ImVec4(1.0f, 1.0f, 1.0f, 1.0f);
    c[ImGuiCol_FrameBg] = ImVec4(0.91f, 0.92f, 0.94f, 1.0f);
    c[ImGuiCol_MenuBarBg] = ImVec4(0.90f, 0.91f, 0.93f, 1.0f);
    c[ImGuiCol_Button] = ImVec4(0.86f, 0.88f, 0.92f, 1.0f);
    c[ImGuiCol_Border] = ImVec4(0.70f, 0.72f, 0.76f, 0.6f);
  }
  style.WindowRounding = 0.0f;
  style.ChildRounding = 4.0f;
  style.FrameRounding = 4.0f;
  style.PopupRounding = 4.0f;
  style.GrabRounding = 3.0f;
  style.WindowBorderSize = 0.0f;
  style.FramePadding = ImVec2(8, 4);
  style.ItemSpacing = ImVec2(8, 6);
  style.CellPadding = ImVec2(6, 3);
  // Slider handles are narrow and translucent so the value written over them stays readable (an
  // integer slider over few values makes its handle a whole share of the bar).
  style.GrabMinSize = 6.0f;
  for (ImGuiCol col : {ImGuiCol_SliderGrab, ImGuiCol_SliderGrabActive})
    style.Colors[col].w = 0.5f;
  // The font atlas has no baked thick-line textures (nearest filtering, see gui_main.cpp).
  style.AntiAliasedLinesUseTex = false;
  style.ScaleAllSizes(scale_);
}

// ---------------------------------------------------------------- per frame

void App::poll_jobs() {
  for (const auto& p : dropped_)
    open(p);
  dropped_.clear();
  if (auto opened = model_panel_.poll())
    show_opened(*opened);
  if (const std::string e = expert_.poll(); !e.empty())
    show_error(e);
  // A followed record: the first replay opens it (and its checkpoint), later ones extend it.
  if (follower_)
    if (auto replay = follower_->poll(!model_panel_.opening() && !exporter_.running())) {
      if (replay->series) { // replays in the Series view, growing as checkpoints land
        try {
          if (series_.source() != follower_->path())
            view_ = View::Series;
          series_.show_record(replay->series, follower_->path());
        } catch (const Error& e) {
          show_error(e.what());
        }
      } else if (replay->pretraining) { // replays in the Pretraining view, growing as steps land
        try {
          if (pretrain_.source() != follower_->path())
            view_ = View::Pretrain;
          pretrain_.show_record(replay->pretraining, follower_->path());
        } catch (const Error& e) {
          show_error(e.what());
        }
      } else if (replaying_ != follower_->path()) {
        open(follower_->path());
      } else if (replay->is_training())
        training_.update_replay(replay->training);
      else
        convergence_.update_replay(replay->records);
    }
  if (const std::string e = convergence_.poll(model_context().layer); !e.empty())
    show_error(e);
  if (const std::string e = training_.poll(); !e.empty())
    show_error(e);
  if (const std::string e = pretrain_.poll(); !e.empty())
    show_error(e);
  if (const std::string e = series_.poll(); !e.empty())
    show_error(e);
  if (const std::string e = exporter_.poll(); !e.empty())
    show_error(e);
  if (const int n = convergence_.play_due())
    launch_mpi_job(n);
  if (const int n = convergence_.take_queued())
    launch_mpi_job(n);
}

void App::show_opened(const ModelPanel::Opened& o) {
  const std::string& path = model_panel_.opening_path();
  if (o.status.state == JobState::Succeeded && o.replay &&
      (o.replay->pretraining || o.replay->series)) { // their own views; no checkpoint
    try {
      if (o.replay->series) {
        series_.show_record(o.replay->series, path);
        view_ = View::Series;
      } else {
        pretrain_.show_record(o.replay->pretraining, path);
        view_ = View::Pretrain;
      }
      recent_.add(path);
      status_ = "opened " + path;
      error_.clear();
    } catch (const Error& e) {
      show_error("Could not open " + path + ":\n" + e.what());
    }
  } else if (o.status.state == JobState::Succeeded) {
    model_panel_.show(o.model);
    recent_.add(o.model->path);
    expert_.clear();
    reset_mpi();
    start_detail_job();
    error_.clear();
    status_ = "opened " + o.model->path;
    training_.clear(); // a training run belongs to the model it was started on
    if (const auto& replay = o.replay) {
      model_panel_.select_layer(replay->layer);
      if (replay->is_training()) {
        training_.show_replay(replay->layer, replay->config, replay->training);
        mpi_mode_ = 1;
      } else {
        convergence_.show_replay(replay->layer, replay->records);
        mpi_mode_ = 0;
      }
      replaying_ = path;
      view_ = View::Mpi;
      recent_.add(path);
    }
  } else if (o.status.state == JobState::Failed) {
    show_error("Could not open " + path + ":\n" + o.status.error);
  } else {
    status_ = "opening " + path + " cancelled";
  }
}

void App::frame() {
  poll_jobs();
  ImGui::NewFrame();
  begin_help_frame();
  begin_shown_values_frame();
  screen_figure_text().clear();
  handle_shortcuts();
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  draw_menu();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(8 * scale_, 6 * scale_));
  ImGui::Begin("##main", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoBringToFrontOnFocus);
  ImGui::PopStyleVar();
  draw_toolbar();
  const float status_h = ImGui::GetFrameHeightWithSpacing() + ImGui::GetStyle().ItemSpacing.y;
  ImGui::BeginChild("##body", ImVec2(0, -status_h), false, ImGuiWindowFlags_NoScrollbar);
  if (ImGui::BeginTable("##layout", 2, ImGuiTableFlags_Resizable | ImGuiTableFlags_BordersInnerV,
                        ImGui::GetContentRegionAvail())) {
    ImGui::TableSetupColumn("sidebar", ImGuiTableColumnFlags_WidthFixed, 300 * scale_);
    ImGui::TableSetupColumn("main", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableNextColumn();
    ImGui::BeginChild("##sidebar", ImVec2(0, 0), false);
    if (view_ == View::Pretrain)
      pretrain_.draw_settings(); // pretraining needs no checkpoint
    else if (view_ == View::Series)
      series_.draw_settings();
    else
      draw_sidebar();
    ImGui::EndChild();
    ImGui::TableNextColumn();
    ImGui::BeginChild("##view", ImVec2(0, 0), false,
                      view_ == View::Mpi || view_ == View::Pretrain || view_ == View::Series
                          ? ImGuiWindowFlags_NoScrollbar
                          : 0);
    if (view_ == View::Pretrain) {
      figure_textures_.begin_frame();
      pretrain_.draw(theme_ == Theme::Dark, figure_textures_);
    } else if (view_ == View::Series) {
      figure_textures_.begin_frame();
      series_.draw(theme_ == Theme::Dark, figure_textures_);
    } else if (!model()) {
      ImGui::Dummy(ImVec2(0, ImGui::GetContentRegionAvail().y * 0.4f));
      const char* msg = model_panel_.opening() ? "Opening..."
                                               : "Open a checkpoint: File > Open (Ctrl+O), or "
                                                 "drop a folder or file on this window.";
      const float w = ImGui::CalcTextSize(msg).x;
      ImGui::SetCursorPosX(std::max(0.0f, (ImGui::GetContentRegionAvail().x - w) * 0.5f));
      ImGui::TextDisabled("%s", msg);
    } else if (view_ == View::Model) {
      if (auto pick = model_panel_.draw())
        select(pick->layer, pick->expert);
    } else if (view_ == View::Expert) {
      expert_.draw(model_context(), *model_panel_.selected_layer());
    } else {
      draw_mpi_view();
    }
    ImGui::EndChild();
    ImGui::EndTable();
  }
  ImGui::EndChild();
  draw_status_bar();
  ImGui::End();
  if (auto chosen = browser_.draw(recent_)) {
    if (follow_pick_)
      follow(*chosen);
    else
      open(*chosen);
  }
  if (auto request = exporter_.draw_dialog())
    export_figure(request->figure, request->file, request->replace);
  draw_error_dialog();
  if (!test_pattern_.empty())
    draw_test_pattern();
  ImGui::Render();
}

void App::show_test_pattern(const std::string& name) {
  if (name != "zigzag")
    throw_input_error("unknown test pattern '" + name + "' (expected zigzag)");
  test_pattern_ = name;
}

void App::draw_test_pattern() {
  // 121 points across 80% of the width alternating between 20% and 80% of the height: at any
  // window size every segment is steep (tens of pixels up or down per few pixels across) and
  // every vertex turns the line back on itself.
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImDrawList* dl = ImGui::GetForegroundDrawList();
  const ImVec2 o = vp->Pos, size = vp->Size;
  dl->AddRectFilled(o, ImVec2(o.x + size.x, o.y + size.y), IM_COL32(0, 0, 0, 255));
  constexpr int n = 121;
  std::vector<Point> run;
  pattern_points_.clear();
  for (int i = 0; i < n; ++i) {
    const double x = 0.1 * size.x + 0.8 * size.x * i / (n - 1);
    const double y = (i % 2 ? 0.2 : 0.8) * size.y;
    run.push_back({x, y});
    pattern_points_.emplace_back(float(o.x + x), float(o.y + y));
  }
  ImGuiCanvas canvas(dl, o, 1.0, figure_textures_);
  Stroke stroke;
  stroke.color = {1, 0, 0, 1};
  stroke.width = kPatternWidth;
  canvas.stroke({run}, stroke);
}

void App::handle_shortcuts() {
  ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput)
    return;
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_O, false)) {
    follow_pick_ = false;
    browser_.open(model() ? model()->path : fs::current_path().string());
  }
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_E, false))
    open_export_dialog();
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_Q, false))
    quit_ = true;
  if (!io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_SPACE, false))
    set_playing(!convergence_.playing());
  if (io.KeyCtrl)
    return;
  const bool left = ImGui::IsKeyPressed(GLFW_KEY_LEFT, true),
             right = ImGui::IsKeyPressed(GLFW_KEY_RIGHT, true),
             home = ImGui::IsKeyPressed(GLFW_KEY_HOME, false),
             end = ImGui::IsKeyPressed(GLFW_KEY_END, false);
  if (view_ == View::Series) { // ←/→ move between checkpoints, Home/End to the first/last
    const int n = series_.checkpoints();
    if (n > 0 && (left || right || home || end))
      series_.set_cursor(home  ? 0
                         : end ? n - 1
                               : std::clamp(series_.cursor() + (right ? 1 : -1), 0, n - 1));
    return;
  }
  if (right && model()) // a step (queued while one runs)
    step(1);
  if (left)
    convergence_.scrub(-1);
  if (home || end)
    convergence_.scrub_to_end(end);
}

void App::draw_menu() {
  if (!ImGui::BeginMainMenuBar())
    return;
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open...", "Ctrl+O")) {
      follow_pick_ = false;
      browser_.open(model() ? model()->path : fs::current_path().string());
    }
    if (ImGui::MenuItem("Follow run...")) { // a .h5 record that `train/mpi --record` writes
      follow_pick_ = true;
      browser_.open(fs::current_path().string());
    }
    if (ImGui::BeginMenu("Open recent", !recent_.items().empty())) {
      for (const auto& item : recent_.items())
        if (ImGui::MenuItem(item.c_str()))
          open(item);
      ImGui::EndMenu();
    }
    if (ImGui::MenuItem("Open demo checkpoint"))
      open(app::default_checkpoint());
    ImGui::Separator();
    if (ImGui::MenuItem("Export figure...", "Ctrl+E", false,
                        model() != nullptr || view_ == View::Series))
      open_export_dialog();
    const bool have_session = mpi_mode_ == 1 ? training_.has_steps() : convergence_.has_steps();
    if (ImGui::MenuItem("Save session (HDF5 run record)...", nullptr, false, have_session)) {
      exporter_.open_dialog(true);
    }
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q"))
      quit_ = true;
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    if (ImGui::MenuItem("Model", nullptr, view_ == View::Model))
      set_view(View::Model);
    if (ImGui::MenuItem("Expert", nullptr, view_ == View::Expert))
      set_view(View::Expert);
    if (ImGui::MenuItem("MPI", nullptr, view_ == View::Mpi))
      set_view(View::Mpi);
    if (ImGui::MenuItem("Pretraining", nullptr, view_ == View::Pretrain))
      set_view(View::Pretrain);
    if (ImGui::MenuItem("Series", nullptr, view_ == View::Series))
      set_view(View::Series);
    ImGui::Separator();
    // How figures are viewed, on screen and in exports (core/figure_options.h).
    ViewOptions& vo = screen_view_options();
    float smooth = float(vo.smoothing);
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8);
    if (ImGui::SliderFloat("Smoothing (EMA)", &smooth, 0.0f, 0.99f, "%.2f"))
      vo.smoothing = std::clamp(double(smooth), 0.0, 0.99);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("Curves over steps as their debiased exponential moving average;\n"
                        "the raw curve stays drawn faint. 0: off.");
    ImGui::MenuItem("Log y axes", nullptr, &vo.log_y);
    if (ImGui::BeginMenu("Heatmap colours")) {
      if (ImGui::MenuItem("As each figure sets them", nullptr, !vo.color_range))
        vo.color_range.reset();
      for (ColorRange r : {ColorRange::Data, ColorRange::Robust, ColorRange::Unit})
        if (ImGui::MenuItem(r == ColorRange::Data     ? "Data min–max"
                            : r == ColorRange::Robust ? "Robust (2nd–98th percentile)"
                                                      : "Fixed 0–1",
                            nullptr, vo.color_range == r))
          vo.color_range = r;
      ImGui::EndMenu();
    }
    ImGui::Separator();
    if (ImGui::MenuItem("Dark theme", nullptr, theme_ == Theme::Dark))
      set_theme(Theme::Dark);
    if (ImGui::MenuItem("Light theme", nullptr, theme_ == Theme::Light))
      set_theme(Theme::Light);
    ImGui::Separator();
    if (ImGui::BeginMenu("Compute device")) {
      const bool on_cpu = backend_->name() == "cpu";
      if (ImGui::MenuItem("CPU", nullptr, on_cpu) && !on_cpu)
        set_device(Device::Cpu);
      if (ImGui::MenuItem("CUDA GPU", nullptr, !on_cpu) && on_cpu)
        set_device(Device::Cuda);
      ImGui::TextDisabled("%s", device_note_.c_str());
      ImGui::EndMenu();
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Help")) {
    draw_help_menu(); // metrics and parameters (the tooltips' texts), keys, documentation
    ImGui::EndMenu();
  }
  ImGui::EndMainMenuBar();
}

void App::draw_toolbar() {
  const float em = ImGui::GetFontSize();
  const char* names[] = {"Model", "Expert", "MPI", "Pretraining", "Series"};
  for (int i = 0; i < int(std::size(names)); ++i) {
    const bool active = int(view_) == i;
    if (active)
      ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_Header));
    if (ImGui::Button(names[i], ImVec2(em * 5.5f, 0)))
      set_view(View(i));
    if (active)
      ImGui::PopStyleColor();
    ImGui::SameLine();
  }
  // The running job's progress and Cancel, right-aligned.
  Job* job = model_panel_.job()   ? model_panel_.job()
             : pretrain_.job()    ? pretrain_.job()
             : series_.job()      ? series_.job()
             : training_.job()    ? training_.job()
             : convergence_.job() ? convergence_.job()
             : expert_.job()      ? expert_.job()
                                  : exporter_.job();
  if (job) {
    const JobStatus s = job->status();
    ImGui::SameLine(ImGui::GetWindowWidth() - em * 26);
    ImGui::ProgressBar(float(s.fraction), ImVec2(em * 18, 0),
                       (job->name().substr(0, 24) + ": " + s.label).c_str());
    ImGui::SameLine();
    if (ImGui::Button("Cancel", ImVec2(-1, 0))) {
      job->cancel();
      convergence_.set_playing(false);
    }
  } else {
    ImGui::NewLine();
  }
  ImGui::Spacing();
}

void App::draw_sidebar() {
  if (auto pick = model_panel_.draw_sidebar(view_ != View::Mpi))
    select(pick->layer, pick->expert);
  if (view_ != View::Mpi || !model())
    return;
  // The selection's values above are the checkpoint's router; while stepping, the stepped one's.
  if (const MpiStepRecord* r = convergence_.current(); r && mpi_mode_ == 0) {
    const std::size_t e = std::size_t(model_panel_.selected_expert());
    section(("Expert " + std::to_string(e) + " at MPI step " + std::to_string(r->step)).c_str());
    if (e < r->cos.size() && ImGui::BeginTable("##stepped", 2, ImGuiTableFlags_SizingFixedFit)) {
      label_value("|cos(Rᵢ, u₁)|", sig4(r->cos[e]));
      label_value("tan θ", sig4(tan_from_cos(r->cos[e]))); // what |cos| ≈ 1 no longer shows
      label_value("λ", sig4(r->lambda[e]));
      label_value("‖Rᵢ‖", sig4(r->norm[e]));
      ImGui::EndTable();
    }
  }
  section("MPI settings");
  const float sw = ImGui::GetContentRegionAvail().x * 0.55f;
  if (convergence_.draw_settings(sw))
    mpi_settings_changed();
  if (mpi_mode_ == 1) {
    section("Training");
    training_.draw_settings(sw);
  }
  ImGui::TextDisabled("Load: %d synthetic probe tokens", convergence_.probe_tokens());
}

void App::open_series(const std::vector<std::string>& paths) {
  view_ = View::Series;
  try {
    series_.start(paths);
  } catch (const Error& e) {
    show_error(e.what());
  }
}

void App::start_pretraining(int steps) {
  view_ = View::Pretrain;
  try {
    pretrain_.start(steps);
  } catch (const Error& e) {
    show_error(e.what());
  }
}

ModelContext App::model_context() const {
  const LayerAlignment* la = model_panel_.selected_layer();
  return {model(), la ? la->layer : -1, model_panel_.selected_expert(), backend_};
}

void App::start_training(int steps) {
  training_.start(model_context(), convergence_.settings(), steps);
  if (mpi_mode_ == 1)
    replaying_.clear();
}

void App::draw_mpi_view() {
  ImGui::RadioButton("Convergence stepping", &mpi_mode_, 0);
  ImGui::SameLine();
  ImGui::RadioButton("Router training", &mpi_mode_, 1);
  if (mpi_mode_ == 1) {
    if (training_.draw({theme_ == Theme::Dark, figure_textures_}, replaying_))
      start_training(training_.steps_setting());
    return;
  }
  const auto action =
      convergence_.draw({theme_ == Theme::Dark, figure_textures_}, model_context(), replaying_);
  if (action.reset) { // the run on screen; a previous run stays until it is cleared
    convergence_.reset();
    replaying_.clear();
  }
  if (action.step > 0)
    step(action.step);
}

void App::draw_status_bar() {
  ImGui::Separator();
  std::string left = status_;
  if (model())
    left = model()->path;
  if (view_ == View::Pretrain && !pretrain_.status().empty())
    left = pretrain_.status();
  if (view_ == View::Series && !series_.status().empty())
    left = series_.status();
  if (follower_)
    left = follower_->status().empty() ? "following " + follower_->path() + ": " +
                                             std::to_string(follower_->steps()) + " steps"
                                       : follower_->status();
  ImGui::TextDisabled("%s", left.c_str());
  char right[256];
  std::snprintf(right, sizeof right, "%s  |  %s  |  %.0f fps", backend_->name().c_str(),
                convergence_.playing() ? "playing"
                : jobs_running()       ? "working"
                                       : "idle",
                ImGui::GetIO().Framerate);
  ImGui::SameLine(ImGui::GetWindowWidth() - ImGui::CalcTextSize(right).x -
                  ImGui::GetStyle().WindowPadding.x * 2);
  ImGui::TextDisabled("%s", right);
}

void App::draw_error_dialog() {
  if (!pending_error_.empty()) {
    ImGui::OpenPopup("Error");
    pending_error_.clear();
  }
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(
      ImVec2(vp->WorkPos.x + vp->WorkSize.x * 0.5f, vp->WorkPos.y + vp->WorkSize.y * 0.4f),
      ImGuiCond_Always, ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSizeConstraints(ImVec2(ImGui::GetFontSize() * 24, 0),
                                      ImVec2(vp->WorkSize.x * 0.7f, vp->WorkSize.y * 0.8f));
  if (ImGui::BeginPopupModal("Error", nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
    ImGui::PushTextWrapPos(vp->WorkSize.x * 0.6f);
    ImGui::TextUnformatted(error_.c_str());
    ImGui::PopTextWrapPos();
    ImGui::Spacing();
    if (ImGui::Button("OK", ImVec2(ImGui::GetFontSize() * 6, 0)) ||
        ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Enter)))
      ImGui::CloseCurrentPopup();
    ImGui::EndPopup();
  }
}

} // namespace routerscope::gui
