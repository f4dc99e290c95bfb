#include "app/gui/app.h"

#include "app/common/demo.h"
#include "core/error.h"
#include "core/figure_builders.h"
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

namespace {

constexpr const char* kFigureNames[] = {"convergence",
                                        "alignment",
                                        "norms",
                                        "load",
                                        "maxvio",
                                        "heatmap",
                                        "training",
                                        "training-load",
                                        "training-norms",
                                        "pretraining",
                                        "pretraining-load",
                                        "pretraining-alignment",
                                        "pretraining-norms",
                                        "session"};
constexpr int kFigureCount = int(std::size(kFigureNames));
constexpr int kSessionFigure = kFigureCount - 1;
constexpr const char* kFormats[] = {"png", "svg", "pdf", "csv", "h5"};

std::string human_bytes(std::uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
  else if (b >= (1ull << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(1ull << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
  return buf;
}

void label_value(const char* label, const std::string& value) {
  ImGui::TableNextRow();
  ImGui::TableNextColumn();
  ImGui::TextDisabled("%s", label);
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(value.c_str());
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void section(const char* title) {
  ImGui::Spacing();
  ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
  ImGui::TextUnformatted(title);
  ImGui::PopStyleColor();
  ImGui::Separator();
}

} // namespace

// Whether the modal window `name` is open (outside a frame too: reads ImGui's popup stack).
static bool popup_open(const char* name) {
  const ImGuiContext* g = ImGui::GetCurrentContext();
  if (!g)
    return false;
  for (const ImGuiPopupData& p : g->OpenPopupStack)
    if (p.Window && std::strcmp(p.Window->Name, name) == 0)
      return true;
  return false;
}

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
  glfwSetWindowUserPointer(window_, this);
  glfwSetDropCallback(window_, drop_callback);
  recent_.load();
  heatmap_ = std::make_unique<HeatmapRenderer>();
  set_theme(value_of(kThemeNames, options.theme).value_or(Theme::Dark));
  export_path_ = (fs::current_path() / "routerscope-figure").string();
}

App::~App() {
  // Jobs join before the data they write is destroyed (panels own theirs in JobSlots).
  export_job_.reset();
  detail_job_.reset();
  open_job_.reset();
  glfwSetWindowUserPointer(window_, nullptr);
}

void App::key(int glfw_key, bool ctrl, bool press) {
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
    status_ = choice.note + " (used by the next analysis; File > Open again to recompute)";
  } catch (const Error& e) {
    show_error(e.what());
  }
}

void App::drop(const std::string& path) {
  const char* paths[] = {path.c_str()};
  drop_callback(window_, 1, paths);
}

bool App::jobs_running() const {
  return open_job_ || detail_job_ || convergence_.running() || export_job_ || training_.running() ||
         pretrain_.running();
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
  if (open_job_)
    open_job_.reset(); // cancels and joins the previous open
  opening_path_ = path;
  std::string p = path;
  const ExpertMatrix matrix = convergence_.settings().matrix;
  const bool record = p.size() > 3 && p.compare(p.size() - 3, 3, ".h5") == 0;
  replay_pub_.publish(std::shared_ptr<const Replay>());
  auto backend = backend_; // a job keeps its backend alive even if the user switches device
  open_job_ =
      std::make_unique<Job>("open " + path, [this, p, matrix, record, backend](const Progress& pr) {
        if (!record) {
          opened_.publish(open_and_align(p, matrix, pr, backend.get()));
          return;
        }
        // A run record replays on the checkpoint it was recorded on.
        auto replay = std::make_shared<const Replay>(read_replay(p));
        if (replay->pretraining) { // replays in the Pretraining view; no checkpoint to open
          replay_pub_.publish(replay);
          return;
        }
        if (!fs::exists(replay->checkpoint))
          throw_input_error(p + ": the recorded checkpoint " + replay->checkpoint +
                            " is not found (replay needs it for the model view)");
        opened_.publish(open_and_align(replay->checkpoint, matrix, pr, backend.get()));
        replay_pub_.publish(replay);
      });
}

void App::select(int layer, int expert) {
  if (!model_)
    throw_input_error("select: no model is open");
  for (int r = 0; r < int(model_->alignment.size()); ++r)
    if (model_->alignment[r].layer == layer) {
      const int n = int(model_->alignment[r].experts.size());
      if (expert < 0 || expert >= n)
        throw_input_error("expert " + std::to_string(expert) + " is out of range for layer " +
                          std::to_string(layer) + " (" + std::to_string(n) + " experts)");
      const bool layer_changed = r != sel_row_;
      sel_row_ = r;
      sel_expert_ = expert;
      start_detail_job();
      if (layer_changed)
        reset_mpi();
      return;
    }
  throw_input_error("layer " + std::to_string(layer) + " is not an MoE layer of " + model_->path);
}

void App::start_detail_job() {
  if (!model_ || model_->alignment.empty())
    return;
  detail_job_.reset();
  auto model = model_;
  const int layer = model_->alignment[sel_row_].layer, expert = sel_expert_;
  detail_job_ = std::make_unique<Job>("expert", [this, model, layer, expert](const Progress& p) {
    detail_pub_.publish(expert_detail(*model->model, layer, expert, model->matrix, 8, p));
  });
}

void App::reset_mpi() {
  convergence_.reset();
  replaying_.clear();
}

void App::launch_mpi_job(int steps) {
  if (!model_ || model_->alignment.empty() || convergence_.running())
    return;
  if (!convergence_.has_run() || !replaying_.empty())
    reset_mpi();
  convergence_.launch(model_context(), steps);
}

void App::step(int n) {
  if (!model_)
    throw_input_error("step: no model is open");
  convergence_.follow_latest();
  launch_mpi_job(n);
}

void App::set_playing(bool playing) {
  convergence_.set_playing(playing && model_ != nullptr);
}

void App::set_view(View v) {
  view_ = v;
  if (v == View::Expert && !detail_ && !detail_job_)
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
  // The font atlas has no baked thick-line textures (nearest filtering, see gui_main.cpp).
  style.AntiAliasedLinesUseTex = false;
  style.ScaleAllSizes(scale_);
}

// ---------------------------------------------------------------- per frame

void App::poll_jobs() {
  for (const auto& p : dropped_)
    open(p);
  dropped_.clear();
  if (open_job_) {
    const JobStatus s = open_job_->status();
    if (s.finished()) {
      open_job_->wait();
      auto pretraining = replay_pub_.latest();
      if (s.state == JobState::Succeeded && pretraining && pretraining->pretraining) {
        try {
          pretrain_.show_record(pretraining->pretraining, opening_path_);
          view_ = View::Pretrain;
          recent_.add(opening_path_);
          status_ = "opened " + opening_path_;
          error_.clear();
        } catch (const Error& e) {
          show_error("Could not open " + opening_path_ + ":\n" + e.what());
        }
      } else if (s.state == JobState::Succeeded) {
        model_ = opened_.latest();
        recent_.add(model_->path);
        sel_row_ = 0;
        sel_expert_ = 0;
        heatmap_dirty_ = true;
        detail_.reset();
        reset_mpi();
        start_detail_job();
        error_.clear();
        status_ = "opened " + model_->path;
        training_.clear(); // a training run belongs to the model it was started on
        if (auto replay = replay_pub_.latest()) {
          for (int r = 0; r < int(model_->alignment.size()); ++r)
            if (model_->alignment[r].layer == replay->layer)
              sel_row_ = r;
          if (replay->is_training()) {
            training_.show_replay(replay->layer, replay->config, replay->training);
            mpi_mode_ = 1;
          } else {
            convergence_.show_replay(replay->layer, replay->records);
            mpi_mode_ = 0;
          }
          replaying_ = opening_path_;
          view_ = View::Mpi;
          recent_.add(opening_path_);
        }
      } else if (s.state == JobState::Failed) {
        show_error("Could not open " + opening_path_ + ":\n" + s.error);
      } else {
        status_ = "opening " + opening_path_ + " cancelled";
      }
      open_job_.reset();
    }
  }
  if (detail_job_ && detail_job_->status().finished()) {
    const JobStatus s = detail_job_->status();
    detail_job_->wait();
    if (s.state == JobState::Succeeded)
      detail_ = detail_pub_.latest();
    else if (s.state == JobState::Failed)
      show_error("Expert analysis failed:\n" + s.error);
    detail_job_.reset();
  }
  // A followed record: the first replay opens it (and its checkpoint), later ones extend it.
  if (follower_)
    if (auto replay = follower_->poll(!open_job_ && !export_job_)) {
      if (replay->pretraining) { // replays in the Pretraining view, growing as steps land
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
  if (const std::string e = convergence_.poll(selected_layer() ? selected_layer()->layer : 0);
      !e.empty())
    show_error(e);
  if (const std::string e = training_.poll(); !e.empty())
    show_error(e);
  if (const std::string e = pretrain_.poll(); !e.empty())
    show_error(e);
  if (export_job_ && export_job_->status().finished()) {
    const JobStatus s = export_job_->status();
    export_job_->wait();
    if (s.state == JobState::Failed) {
      export_error_ = s.error;
      show_error("Export failed:\n" + s.error);
    }
    export_job_.reset();
  }
  if (const int n = convergence_.play_due())
    launch_mpi_job(n);
}

void App::frame() {
  poll_jobs();
  ImGui::NewFrame();
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
    else
      draw_sidebar();
    ImGui::EndChild();
    ImGui::TableNextColumn();
    ImGui::BeginChild("##view", ImVec2(0, 0), false,
                      view_ == View::Mpi || view_ == View::Pretrain ? ImGuiWindowFlags_NoScrollbar
                                                                    : 0);
    if (view_ == View::Pretrain) {
      figure_textures_.begin_frame();
      pretrain_.draw(theme_ == Theme::Dark, figure_textures_);
    } else if (!model_) {
      ImGui::Dummy(ImVec2(0, ImGui::GetContentRegionAvail().y * 0.4f));
      const char* msg = open_job_ ? "Opening..."
                                  : "Open a checkpoint: File > Open (Ctrl+O), or "
                                    "drop a folder or file on this window.";
      const float w = ImGui::CalcTextSize(msg).x;
      ImGui::SetCursorPosX(std::max(0.0f, (ImGui::GetContentRegionAvail().x - w) * 0.5f));
      ImGui::TextDisabled("%s", msg);
    } else if (view_ == View::Model) {
      draw_model_view();
    } else if (view_ == View::Expert) {
      draw_expert_view();
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
  draw_export_dialog();
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
    browser_.open(model_ ? model_->path : fs::current_path().string());
  }
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_E, false))
    export_dialog_ = true;
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_Q, false))
    quit_ = true;
  if (!io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_SPACE, false))
    set_playing(!convergence_.playing());
  if (!io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_RIGHT, true) && model_)
    step(1);
}

void App::draw_menu() {
  if (!ImGui::BeginMainMenuBar())
    return;
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open...", "Ctrl+O")) {
      follow_pick_ = false;
      browser_.open(model_ ? model_->path : fs::current_path().string());
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
    if (ImGui::MenuItem("Export figure...", "Ctrl+E", false, model_ != nullptr))
      export_dialog_ = true;
    const bool have_session = mpi_mode_ == 1 ? training_.has_steps() : convergence_.has_steps();
    if (ImGui::MenuItem("Save session (HDF5 run record)...", nullptr, false, have_session)) {
      export_figure_ = kSessionFigure;
      export_dialog_ = true;
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
    ImGui::TextDisabled("Space play/pause, Right step, Ctrl+O open, Ctrl+E export, Ctrl+Q quit");
    ImGui::EndMenu();
  }
  ImGui::EndMainMenuBar();
}

void App::draw_toolbar() {
  const float em = ImGui::GetFontSize();
  const char* names[] = {"Model", "Expert", "MPI", "Pretraining"};
  for (int i = 0; i < 4; ++i) {
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
  Job* job = open_job_            ? open_job_.get()
             : pretrain_.job()    ? pretrain_.job()
             : training_.job()    ? training_.job()
             : convergence_.job() ? convergence_.job()
             : detail_job_        ? detail_job_.get()
                                  : export_job_.get();
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

const LayerAlignment* App::selected_layer() const {
  if (!model_ || model_->alignment.empty())
    return nullptr;
  return &model_->alignment[std::clamp(sel_row_, 0, int(model_->alignment.size()) - 1)];
}

void App::draw_sidebar() {
  if (!model_) {
    section("No model");
    ImGui::TextWrapped("Opening runs in the background; the window keeps drawing.");
    return;
  }
  const ModelInfo& info = model_->info;
  section("Model");
  if (ImGui::BeginTable("##info", 2, ImGuiTableFlags_SizingFixedFit)) {
    label_value("path", fs::path(model_->path).filename().string());
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("%s", model_->path.c_str());
    label_value("family", info.family.empty() ? "?" : info.family);
    label_value("layout", info.layout);
    const auto moe = info.moe_layers();
    label_value("layers",
                std::to_string(info.layers.size()) + " (" + std::to_string(moe.size()) + " MoE)");
    if (!moe.empty()) {
      const LayerInfo& l = info.layer(moe.front());
      label_value("experts",
                  std::to_string(l.experts) +
                      (l.top_k ? ", top-" + std::to_string(*l.top_k) : std::string()) +
                      (l.shared_experts ? ", " + std::to_string(l.shared_experts) + " shared"
                                        : std::string()));
      label_value("shapes",
                  "D " + std::to_string(info.d_model) + ", d " + std::to_string(l.d_expert));
    }
    std::string dtypes;
    for (const auto& d : info.dtypes)
      dtypes += (dtypes.empty() ? "" : ", ") + d;
    label_value("dtypes", dtypes);
    label_value("size", human_bytes(info.bytes_on_disk));
    label_value("matrix", std::string(to_string(model_->matrix)));
    ImGui::EndTable();
  }
  section("Selection");
  const LayerAlignment* la = selected_layer();
  int layer_index = sel_row_;
  const float w = ImGui::GetContentRegionAvail().x * 0.55f;
  ImGui::SetNextItemWidth(w);
  char layer_label[32];
  std::snprintf(layer_label, sizeof layer_label, "L%d", la->layer);
  if (ImGui::SliderInt("layer", &layer_index, 0, int(model_->alignment.size()) - 1, layer_label))
    select(model_->alignment[layer_index].layer,
           std::min(sel_expert_, int(model_->alignment[layer_index].experts.size()) - 1));
  int e = sel_expert_;
  ImGui::SetNextItemWidth(w);
  if (ImGui::SliderInt("expert", &e, 0, int(la->experts.size()) - 1))
    select(la->layer, e);
  if (sel_expert_ < int(la->experts.size())) {
    const ExpertAlignment& x = la->experts[sel_expert_];
    if (ImGui::BeginTable("##sel", 2, ImGuiTableFlags_SizingFixedFit)) {
      label_value("|cos(Rᵢ, u₁)|", fmt("%.4f", x.cos));
      label_value("λ", fmt("%.4f", x.lambda));
      label_value("σ₂/σ₁", fmt("%.4f", x.gap_ratio));
      label_value("‖Rᵢ‖", fmt("%.4g", x.router_norm));
      label_value("status", std::string(to_string(x.status)));
      ImGui::EndTable();
    }
  }
  if (view_ != View::Mpi)
    section("Layer summary");
  if (view_ != View::Mpi &&
      ImGui::BeginTable("##sum", 3, ImGuiTableFlags_SizingStretchSame | ImGuiTableFlags_RowBg)) {
    ImGui::TableSetupColumn("");
    ImGui::TableSetupColumn("mean");
    ImGui::TableSetupColumn("p95");
    ImGui::TableHeadersRow();
    auto row = [](const char* name, const Summary& s) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextDisabled("%s", name);
      ImGui::TableNextColumn();
      ImGui::Text("%.3f", s.mean);
      ImGui::TableNextColumn();
      ImGui::Text("%.3f", s.p95);
    };
    row("|cos|", la->cos);
    row("λ", la->lambda);
    row("σ₂/σ₁", la->gap_ratio);
    ImGui::EndTable();
  }
  if (view_ == View::Mpi) {
    section("MPI settings");
    const float sw = ImGui::GetContentRegionAvail().x * 0.55f;
    if (convergence_.draw_settings(sw))
      reset_mpi();
    if (mpi_mode_ == 1) {
      section("Training");
      training_.draw_settings(sw);
    }
    ImGui::TextDisabled("Load: %d synthetic probe tokens", convergence_.probe_tokens());
  }
}

void App::draw_model_view() {
  const float em = ImGui::GetFontSize();
  const int rows = model_->grid_rows, cols = model_->grid_cols;
  if (rows == 0 || cols == 0) {
    ImGui::TextDisabled("No MoE layer to show.");
    return;
  }
  int m = int(metric_);
  ImGui::TextUnformatted("Router-expert alignment");
  ImGui::SameLine();
  ImGui::SetCursorPosX(ImGui::GetCursorPosX() + em);
  ImGui::RadioButton("|cos(Rᵢ, u₁)|", &m, 0);
  ImGui::SameLine();
  ImGui::RadioButton("λ (Eq. 11)", &m, 1);
  if (m != int(metric_))
    set_metric(Metric(m));
  if (heatmap_dirty_) {
    heatmap_->set_values(rows, cols,
                         metric_ == Metric::Cos ? model_->cos_grid : model_->lambda_grid);
    heatmap_dirty_ = false;
  }
  // Heatmap area: y labels on the left, colour bar on the right, x labels below.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float label_w = em * 3.2f, bar_w = em * 4.5f, xlabel_h = em * 2.6f;
  // The heatmap takes up to 60% of the height; the per-layer table fills the rest.
  const float table_h =
      std::min(avail.y * 0.4f, ImGui::GetFrameHeightWithSpacing() * (rows + 2.5f));
  const float max_w = avail.x - label_w - bar_w, max_h = avail.y - xlabel_h - em * 0.5f - table_h;
  // Square-ish cells, but never taller than the space.
  const float cell = std::max(2.0f, std::min(max_w / cols, std::min(max_h / rows, em * 4.0f)));
  const float hw = std::min(max_w, cell * cols * 1.0f), hh = std::min(max_h, cell * rows);
  const float cw = hw / cols, ch = hh / rows;
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 p0(origin.x + label_w, origin.y);
  const unsigned tex = heatmap_->render(int(hw * 1), int(hh * 1), 0.0f, 1.0f, true);
  ImGui::SetCursorScreenPos(p0);
  ImGui::Image(ImTextureID(std::uintptr_t(tex)), ImVec2(hw, hh), ImVec2(0, 1), ImVec2(1, 0));
  const bool hovered = ImGui::IsItemHovered();
  const bool clicked = ImGui::IsItemClicked();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text),
              dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  // Selection outline.
  const ImVec2 s0(p0.x + sel_expert_ * cw, p0.y + sel_row_ * ch);
  dl->AddRect(ImVec2(s0.x - 1, s0.y - 1), ImVec2(s0.x + cw + 1, s0.y + ch + 1),
              IM_COL32(255, 90, 60, 255), 0, 0, 2.0f);
  // Row labels (layers) and column labels (experts), thinned to stay readable.
  const int row_every = std::max(1, int(std::ceil(em * 1.1f / ch)));
  for (int r = 0; r < rows; r += row_every) {
    char s[16];
    std::snprintf(s, sizeof s, "L%d", model_->alignment[r].layer);
    const ImVec2 ts = ImGui::CalcTextSize(s);
    dl->AddText(ImVec2(p0.x - ts.x - em * 0.4f, p0.y + (r + 0.5f) * ch - ts.y * 0.5f), dim, s);
  }
  const int col_every = std::max(1, int(std::ceil(em * 2.2f / cw)));
  for (int c = 0; c < cols; c += col_every) {
    const std::string s = std::to_string(c);
    const ImVec2 ts = ImGui::CalcTextSize(s.c_str());
    dl->AddText(ImVec2(p0.x + (c + 0.5f) * cw - ts.x * 0.5f, p0.y + hh + em * 0.2f), dim,
                s.c_str());
  }
  const char* xl = "expert";
  dl->AddText(ImVec2(p0.x + hw * 0.5f - ImGui::CalcTextSize(xl).x * 0.5f, p0.y + hh + em * 1.3f),
              dim, xl);
  // Colour bar.
  const ImVec2 b0(p0.x + hw + em * 1.0f, p0.y);
  const float bw = em * 0.9f;
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    const float y0 = b0.y + hh * (1.0f - float(i + 1) / steps),
                y1 = b0.y + hh * (1.0f - float(i) / steps);
    dl->AddRectFilled(ImVec2(b0.x, y0), ImVec2(b0.x + bw, y1 + 0.5f),
                      viridis_color((i + 0.5) / steps));
  }
  dl->AddRect(b0, ImVec2(b0.x + bw, b0.y + hh), dim);
  for (double v : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const std::string s = fmt("%.2f", v);
    const float y = b0.y + hh * float(1.0 - v);
    dl->AddLine(ImVec2(b0.x + bw, y), ImVec2(b0.x + bw + em * 0.3f, y), dim);
    dl->AddText(ImVec2(b0.x + bw + em * 0.4f, y - em * 0.5f), text, s.c_str());
  }
  // Hover read-out and click to select.
  if (hovered) {
    const ImVec2 mp = ImGui::GetIO().MousePos;
    const int c = std::clamp(int((mp.x - p0.x) / cw), 0, cols - 1);
    const int r = std::clamp(int((mp.y - p0.y) / ch), 0, rows - 1);
    const LayerAlignment& la = model_->alignment[r];
    ImGui::BeginTooltip();
    ImGui::Text("layer %d, expert %d", la.layer, c);
    if (c < int(la.experts.size())) {
      const ExpertAlignment& x = la.experts[c];
      ImGui::Text("|cos| %.4f   λ %.4f", x.cos, x.lambda);
      ImGui::Text("σ₂/σ₁ %.4f   ‖Rᵢ‖ %.4g", x.gap_ratio, x.router_norm);
      if (x.status != DirectionStatus::Ok)
        ImGui::TextDisabled("direction: %s", std::string(to_string(x.status)).c_str());
    }
    ImGui::EndTooltip();
    if (clicked && c < int(la.experts.size()))
      select(la.layer, c);
  }
  ImGui::SetCursorScreenPos(ImVec2(origin.x, p0.y + hh + xlabel_h));
  // Per-layer summary over the experts whose direction is defined.
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchSame;
  if (ImGui::BeginTable("##layers", 9, flags, ImVec2(0, ImGui::GetContentRegionAvail().y))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    for (const char* h : {"layer", "experts", "mean |cos|", "p95 |cos|", "max |cos|", "mean λ",
                          "mean σ₂/σ₁", "mean ‖Rᵢ‖", "undefined u₁"})
      ImGui::TableSetupColumn(h);
    ImGui::TableHeadersRow();
    for (int r = 0; r < rows; ++r) {
      const LayerAlignment& la = model_->alignment[r];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      char label[32];
      std::snprintf(label, sizeof label, "L%d", la.layer);
      if (ImGui::Selectable(label, r == sel_row_, ImGuiSelectableFlags_SpanAllColumns))
        select(la.layer, std::min(sel_expert_, int(la.experts.size()) - 1));
      ImGui::TableNextColumn();
      ImGui::Text("%d", int(la.experts.size()));
      for (double v : {la.cos.mean, la.cos.p95, la.cos.max, la.lambda.mean, la.gap_ratio.mean,
                       la.router_norm.mean}) {
        ImGui::TableNextColumn();
        ImGui::Text("%.4f", v);
      }
      ImGui::TableNextColumn();
      ImGui::Text("%d", int(la.experts.size()) - la.cos.count);
    }
    ImGui::EndTable();
  }
}

void App::draw_expert_view() {
  const LayerAlignment* la = selected_layer();
  const float em = ImGui::GetFontSize();
  ImGui::Text("Layer %d, expert %d", la->layer, sel_expert_);
  ImGui::SameLine();
  ImGui::TextDisabled("(%s matrix)", std::string(to_string(model_->matrix)).c_str());
  if (!detail_ || detail_->layer != la->layer || detail_->expert != sel_expert_) {
    ImGui::TextDisabled(detail_job_ ? "Computing the singular values..." : "No detail yet.");
    return;
  }
  const ExpertDetail& d = *detail_;
  const ExpertAlignment& x = la->experts[sel_expert_];
  if (!d.non_finite.empty()) {
    section("Spectrum of G");
    ImGui::TextColored(ImVec4(0.84f, 0.37f, 0.0f, 1.0f), "non-finite %s", d.non_finite.c_str());
    ImGui::TextWrapped("The expert's %s hold NaN or Inf: it has no singular values, principal "
                       "direction or projections.",
                       d.non_finite == "weights" ? "weights (G)" : "router row");
    return;
  }
  if (ImGui::BeginTable("##expert", 2, ImGuiTableFlags_Resizable | ImGuiTableFlags_BordersInnerV)) {
    ImGui::TableNextColumn();
    section("Spectrum of G (leading singular values)");
    if (ImGui::BeginTable("##sv", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchSame)) {
      ImGui::TableSetupColumn("j");
      ImGui::TableSetupColumn("σⱼ");
      ImGui::TableSetupColumn("σⱼ/σ₁");
      ImGui::TableSetupColumn("(vⱼ·r)/‖r‖");
      ImGui::TableHeadersRow();
      for (std::size_t j = 0; j < d.sigma.size(); ++j) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::Text("%zu", j + 1);
        ImGui::TableNextColumn();
        ImGui::Text("%.4f", d.sigma[j]);
        ImGui::TableNextColumn();
        ImGui::Text("%.4f", d.sigma[j] / d.sigma[0]);
        ImGui::TableNextColumn();
        ImGui::Text("%+.4f", d.projection[j]);
      }
      ImGui::EndTable();
    }
    section("Alignment");
    if (ImGui::BeginTable("##al", 2, ImGuiTableFlags_SizingFixedFit)) {
      label_value("G shape", "[" + std::to_string(d.d) + ", " + std::to_string(d.d_model) + "]");
      label_value("σ₁", fmt("%.5g", x.sigma1));
      label_value("σ₂/σ₁", fmt("%.4f", x.gap_ratio));
      label_value("|cos(Rᵢ, u₁)|", fmt("%.4f", x.cos));
      label_value("λ", fmt("%.4f", x.lambda));
      label_value("‖Rᵢ‖", fmt("%.5g", d.router_norm));
      double rest = 1.0;
      for (double p : d.projection)
        rest -= p * p;
      label_value("‖r‖² share outside v₁..v₈", fmt("%.4f", std::max(0.0, rest)));
      ImGui::EndTable();
    }
    ImGui::TableNextColumn();
    // Bars: σ_j/σ_1 and the squared projections of the router row.
    auto bars = [&](const char* title, const std::vector<double>& v, ImU32 color, const char* f) {
      section(title);
      ImDrawList* dl = ImGui::GetWindowDrawList();
      const float w = ImGui::GetContentRegionAvail().x, h = em * 1.35f;
      for (std::size_t j = 0; j < v.size(); ++j) {
        const ImVec2 p = ImGui::GetCursorScreenPos();
        const float lw = em * 2.5f;
        char name[32];
        std::snprintf(name, sizeof name, "v%zu", j + 1);
        dl->AddText(ImVec2(p.x, p.y), ImGui::GetColorU32(ImGuiCol_TextDisabled), name);
        const float bw = float(std::clamp(v[j], 0.0, 1.0)) * (w - lw - em * 4.5f);
        dl->AddRectFilled(ImVec2(p.x + lw, p.y + 2), ImVec2(p.x + lw + bw, p.y + h - 3), color, 2);
        dl->AddText(ImVec2(p.x + lw + bw + em * 0.4f, p.y), ImGui::GetColorU32(ImGuiCol_Text),
                    fmt(f, v[j]).c_str());
        ImGui::Dummy(ImVec2(w, h));
      }
    };
    std::vector<double> ratio, energy;
    for (std::size_t j = 0; j < d.sigma.size(); ++j) {
      ratio.push_back(d.sigma[j] / d.sigma[0]);
      energy.push_back(d.projection[j] * d.projection[j]);
    }
    bars("σⱼ / σ₁", ratio, ImGui::ColorConvertFloat4ToU32(ImVec4(0.0f, 0.45f, 0.70f, 1.0f)),
         "%.3f");
    bars("share of ‖r‖² along vⱼ", energy,
         ImGui::ColorConvertFloat4ToU32(ImVec4(0.84f, 0.37f, 0.0f, 1.0f)), "%.3f");
    ImGui::EndTable();
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
  const LayerAlignment* la = selected_layer();
  return {model_, la ? la->layer : -1, sel_expert_, backend_};
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
  if (action.reset)
    reset_mpi();
  if (action.step > 0)
    step(action.step);
}

void App::draw_status_bar() {
  ImGui::Separator();
  std::string left = status_;
  if (model_)
    left = model_->path;
  if (view_ == View::Pretrain && !pretrain_.status().empty())
    left = pretrain_.status();
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

Figure App::build_figure(const std::string& figure) const {
  if (figure.starts_with("pretraining"))
    return pretrain_.figure(figure);
  if (!model_)
    throw_input_error("export " + figure + ": no model is open");
  if (figure.rfind("training", 0) == 0)
    return training_.figure(figure);
  if (figure == "heatmap") {
    AlignmentGrid grid;
    for (const auto& la : model_->alignment)
      grid.layers.push_back(la.layer);
    grid.experts = model_->grid_cols;
    const auto& values = metric_ == Metric::Cos ? model_->cos_grid : model_->lambda_grid;
    grid.values.assign(values.begin(), values.end());
    grid.quantity = metric_ == Metric::Cos ? "|cos(Rᵢ, u₁)|" : "λ (Eq. 11)";
    Figure f = alignment_heatmap(grid);
    f.title = fs::path(model_->path).filename().string() + ": router–expert alignment (" +
              std::string(to_string(model_->matrix)) + ")";
    return f;
  }
  return convergence_.figure(figure, model_context());
}

void App::export_figure(const std::string& figure, const std::string& file) {
  export_error_.clear();
  try {
    if (std::find_if(std::begin(kFigureNames), std::end(kFigureNames),
                     [&](const char* name) { return figure == name; }) == std::end(kFigureNames)) {
      std::string names;
      for (const char* name : kFigureNames)
        names += (names.empty() ? "" : ", ") + std::string(name);
      throw_input_error("unknown figure '" + figure + "' (expected one of: " + names + ")");
    }
    std::string ext = fs::path(file).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (figure == "session" && view_ == View::Pretrain) {
      if (ext != ".h5")
        throw_input_error("cannot save the session to " + file + ": expected a .h5 file name");
      pretrain_.save_record(file); // a copy of the run's own record
      exported_.push_back(file);
      return;
    }
    if (figure == "session" && mpi_mode_ == 1) {
      if (ext != ".h5")
        throw_input_error("cannot save the session to " + file + ": expected a .h5 file name");
      auto work = training_.save_work(file, model_);
      export_job_.reset();
      export_job_ = std::make_unique<Job>("save", std::move(work));
      exported_.push_back(file);
      return;
    }
    if (figure == "session") {
      if (ext != ".h5")
        throw_input_error("cannot save the session to " + file + ": expected a .h5 file name");
      auto work = convergence_.save_work(file, model_);
      export_job_.reset();
      export_job_ = std::make_unique<Job>("save", std::move(work));
      exported_.push_back(file);
      return;
    }
    if (ext != ".csv" && ext != ".png" && ext != ".svg" && ext != ".pdf")
      throw_input_error("cannot export " + figure + " to " + file +
                        ": expected a .png, .svg, .pdf or .csv file name");
    auto fig = std::make_shared<const Figure>(build_figure(figure));
    export_job_.reset();
    export_job_ = std::make_unique<Job>("export", [fig, file, ext](const Progress& p) {
      p(0.0, "writing " + file);
      if (ext == ".csv")
        io::export_figure_csv(*fig, file);
      else
        io::export_figure(*fig, file);
    });
    exported_.push_back(file);
  } catch (const Error& e) {
    export_error_ = e.what();
    show_error(e.what());
  }
}

void App::draw_export_dialog() {
  if (export_dialog_) {
    ImGui::OpenPopup("Export");
    export_dialog_ = false;
  }
  if (!ImGui::BeginPopupModal("Export", nullptr, ImGuiWindowFlags_AlwaysAutoResize))
    return;
  const float em = ImGui::GetFontSize();
  ImGui::SetNextItemWidth(em * 12);
  ImGui::Combo("figure", &export_figure_, kFigureNames, kFigureCount);
  ImGui::SetNextItemWidth(em * 12);
  if (export_figure_ == kSessionFigure) // the session is an HDF5 run record
    export_format_ = 4;
  else
    export_format_ = std::min(export_format_, 3);
  ImGui::Combo("format", &export_format_, kFormats, export_figure_ == kSessionFigure ? 5 : 4);
  ImGui::SetNextItemWidth(em * 28);
  ImGui::InputText("file (without extension)", &export_path_);
  if (ImGui::Button("Export", ImVec2(em * 7, 0))) {
    export_figure(kFigureNames[export_figure_], export_path_ + "." + kFormats[export_format_]);
    ImGui::CloseCurrentPopup();
  }
  ImGui::SameLine();
  if (ImGui::Button("Cancel", ImVec2(em * 7, 0)))
    ImGui::CloseCurrentPopup();
  ImGui::EndPopup();
}

int App::followed_steps() const {
  if (follower_ && pretrain_.source() == follower_->path())
    return pretrain_.steps();
  if (!follower_ || replaying_ != follower_->path() || open_job_)
    return 0;
  if (mpi_mode_ == 1)
    return training_.steps();
  return convergence_.steps_recorded();
}

std::string App::state_json() const {
  nlohmann::json j;
  j["opened_path"] = model_ ? model_->path : "";
  j["view"] = name_of(kViewNames, view_);
  if (!test_pattern_.empty()) {
    nlohmann::json points = nlohmann::json::array();
    for (const ImVec2& p : pattern_points_)
      points.push_back({p.x, p.y});
    j["test_pattern"] = {{"name", test_pattern_}, {"width", kPatternWidth}, {"points", points}};
  }
  j["pretraining"] = pretrain_.state();
  j["theme"] = name_of(kThemeNames, theme_);
  j["metric"] = name_of(kMetricNames, metric_);
  j["error"] = error_;
  convergence_.state(j);
  const LayerAlignment* la = selected_layer();
  j["selected_layer"] = la ? la->layer : -1;
  j["selected_expert"] = la ? sel_expert_ : -1;
  training_.state(j);
  j["exports"] = exported_;
  j["quit_requested"] = quit_;
  j["device"] = backend_->name();
  j["device_note"] = device_note_;
  j["browser_open"] = popup_open("Open checkpoint or record");
  j["browser"] = browser_.state();
  j["export_dialog_open"] = popup_open("Export");
  j["mpi_mode"] = mpi_mode_ == 0 ? "convergence" : "training";
  j["replaying"] = replaying_;
  if (detail_) {
    j["expert_detail"] = {{"layer", detail_->layer},
                          {"expert", detail_->expert},
                          {"non_finite", detail_->non_finite},
                          {"sigma", detail_->sigma},
                          {"projection", detail_->projection}};
  }
  j["following"] = follower_ ? follower_->path() : "";
  j["follow_status"] = follower_ ? follower_->status() : "";
  if (model_) {
    j["family"] = model_->info.family;
    j["layout"] = model_->info.layout;
    j["moe_layers"] = model_->grid_rows;
    j["experts"] = model_->grid_cols;
  }
  return j.dump(2);
}

} // namespace routerscope::gui
