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
                                        "series-alignment",
                                        "series-norms",
                                        "series-load",
                                        "session"};
constexpr int kFigureCount = int(std::size(kFigureNames));
constexpr int kSessionFigure = kFigureCount - 1;
// Router-training figures: the GUI name and the record figure (io/record_figures.h) it draws.
constexpr const char* kTrainFigures[][2] = {
    {"training", "training"}, {"training-load", "load"}, {"training-norms", "norms"}};
// Convergence stepping's pages: tan θ (the record figure "convergence", as `plot` draws it), then
// |cos|, norms and load.
constexpr const char* kMpiPages[] = {"tan θ (convergence)", "|cos|, norms and load"};
constexpr const char* kTrainFigureLabels[] = {"losses, MaxVio and λ per variant",
                                              "expert load over steps", "router norms"};
constexpr const char* kFormats[] = {"png", "svg", "pdf", "csv", "h5"};

const char* view_name(View v) {
  switch (v) {
  case View::Model:
    return "model";
  case View::Expert:
    return "expert";
  case View::Mpi:
    return "mpi";
  case View::Pretrain:
    return "pretrain";
  case View::Series:
    return "series";
  }
  return "model";
}

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
  series_.set_backend(backend_);
  glfwSetWindowUserPointer(window_, this);
  glfwSetDropCallback(window_, drop_callback);
  recent_.load();
  heatmap_ = std::make_unique<HeatmapRenderer>();
  set_theme(options.theme == "light" ? Theme::Light : Theme::Dark);
  last_frame_ = std::chrono::steady_clock::now();
  export_path_ = (fs::current_path() / "routerscope-figure").string();
}

App::~App() {
  // Jobs join before the data they write is destroyed (a training job publishes into train_pub_,
  // a member destroyed before train_job_ would otherwise be: issue 15, finding 1).
  train_job_.reset();
  export_job_.reset();
  mpi_job_.reset();
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
    series_.set_backend(backend_);
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
  return open_job_ || detail_job_ || mpi_job_ || export_job_ || train_job_ || pretrain_.running() ||
         series_.running();
}

bool App::busy() const {
  return jobs_running() || playing_;
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
  const ExpertMatrix matrix = ExpertMatrix(matrix_);
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
        if (replay->pretraining || replay->series) { // no checkpoint to open
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
  mpi_job_.reset();
  playing_ = false;
  slot_ = std::make_shared<StepperSlot>();
  replaying_.clear();
  records_.reset();
  records_pub_.publish(std::shared_ptr<const std::vector<MpiStepRecord>>());
  timeline_ = 0;
  follow_ = true;
  conv_view_ = align_view_ = norm_view_ = load_view_ = vio_view_ = PlotView{};
}

void App::launch_mpi_job(int steps) {
  if (!model_ || model_->alignment.empty() || mpi_job_)
    return;
  if (!slot_ || !replaying_.empty())
    reset_mpi();
  MpiRunSettings s;
  s.layer = model_->alignment[sel_row_].layer;
  s.mpi.matrix = ExpertMatrix(matrix_);
  s.mpi.c_prime = c_prime_;
  s.mpi.power_steps = power_steps_;
  s.mpi.ablation = MpiSettings::Ablation(ablation_);
  s.mpi.order = GateOrder(order_);
  run_settings_ = s;
  auto slot = slot_;
  auto model = model_;
  auto backend = backend_;
  mpi_job_ =
      std::make_unique<Job>("mpi", [this, slot, model, s, steps, backend](const Progress& p) {
        if (!slot->stepper) {
          slot->stepper = std::make_shared<MpiStepper>(model, s, p, backend);
          records_pub_.publish(slot->stepper->records());
        }
        slot->stepper->advance(steps, p);
        records_pub_.publish(slot->stepper->records());
      });
}

void App::step(int n) {
  if (!model_)
    throw_input_error("step: no model is open");
  follow_ = true;
  launch_mpi_job(n);
}

void App::set_playing(bool playing) {
  playing_ = playing && model_ != nullptr;
  play_credit_ = 1.0; // the first step comes at once
  if (playing_)
    follow_ = true;
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
      auto pretraining = replay_pub_.latest(); // or a series record: no checkpoint to open
      if (s.state == JobState::Succeeded && pretraining &&
          (pretraining->pretraining || pretraining->series)) {
        try {
          if (pretraining->series) {
            series_.show_record(pretraining->series, opening_path_);
            view_ = View::Series;
          } else {
            pretrain_.show_record(pretraining->pretraining, opening_path_);
            view_ = View::Pretrain;
          }
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
        train_job_.reset(); // a training run belongs to the model it was started on
        train_pub_.publish(std::make_shared<const std::vector<TrainStepRecord>>());
        train_config_.clear();
        if (auto replay = replay_pub_.latest()) {
          for (int r = 0; r < int(model_->alignment.size()); ++r)
            if (model_->alignment[r].layer == replay->layer)
              sel_row_ = r;
          if (replay->is_training()) {
            train_layer_ = replay->layer;
            train_config_ = replay->config;
            train_follow_ = true;
            train_view_ = PlotView{};
            train_pub_.publish(
                std::make_shared<const std::vector<TrainStepRecord>>(replay->training));
            mpi_mode_ = 1;
          } else {
            run_settings_ = MpiRunSettings{};
            run_settings_.layer = replay->layer;
            slot_.reset(); // stepping after a replay starts a fresh run
            records_pub_.publish(
                std::make_shared<const std::vector<MpiStepRecord>>(replay->records));
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
        train_pub_.publish(std::make_shared<const std::vector<TrainStepRecord>>(replay->training));
      else
        records_pub_.publish(std::make_shared<const std::vector<MpiStepRecord>>(replay->records));
    }
  // Records are read every frame so the plots grow while a job runs.
  if (auto r = records_pub_.latest(); r != records_) {
    records_ = r;
    if (records_ && follow_)
      timeline_ = int(records_->size()) - 1;
  }
  if (mpi_job_ && mpi_job_->status().finished()) {
    const JobStatus s = mpi_job_->status();
    mpi_job_->wait();
    if (s.state == JobState::Failed) {
      playing_ = false;
      show_error("MPI stepping failed on layer " +
                 std::to_string(model_ ? model_->alignment[sel_row_].layer : 0) + ":\n" + s.error);
    }
    mpi_job_.reset();
  }
  if (auto t = train_pub_.latest(); t != train_records_) {
    train_records_ = t;
    if (train_records_ && train_follow_ && !train_records_->empty())
      train_timeline_ = train_records_->back().step;
  }
  if (train_job_ && train_job_->status().finished()) {
    const JobStatus s = train_job_->status();
    train_job_->wait();
    if (s.state == JobState::Failed)
      show_error("Router training failed:\n" + s.error);
    train_job_.reset();
  }
  if (const std::string e = pretrain_.poll(); !e.empty())
    show_error(e);
  if (const std::string e = series_.poll(); !e.empty())
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
  // Play: steps at `speed_` per second, one job at a time.
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - last_frame_).count();
  last_frame_ = now;
  if (playing_) {
    play_credit_ = std::min(play_credit_ + dt * speed_, 64.0);
    if (!mpi_job_ && play_credit_ >= 1.0) {
      const int n = int(play_credit_);
      play_credit_ -= n;
      launch_mpi_job(n);
    }
  }
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
    set_playing(!playing_);
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
    if (ImGui::MenuItem("Export figure...", "Ctrl+E", false,
                        model_ != nullptr || view_ == View::Series))
      export_dialog_ = true;
    const bool have_session = mpi_mode_ == 1 ? train_records_ && !train_records_->empty()
                                             : records_ && !records_->empty();
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
    if (ImGui::MenuItem("Series", nullptr, view_ == View::Series))
      set_view(View::Series);
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
  Job* job = open_job_         ? open_job_.get()
             : pretrain_.job() ? pretrain_.job()
             : series_.job()   ? series_.job()
             : train_job_      ? train_job_.get()
             : mpi_job_        ? mpi_job_.get()
             : detail_job_     ? detail_job_.get()
                               : export_job_.get();
  if (job) {
    const JobStatus s = job->status();
    ImGui::SameLine(ImGui::GetWindowWidth() - em * 26);
    ImGui::ProgressBar(float(s.fraction), ImVec2(em * 18, 0),
                       (job->name().substr(0, 24) + ": " + s.label).c_str());
    ImGui::SameLine();
    if (ImGui::Button("Cancel", ImVec2(-1, 0))) {
      job->cancel();
      playing_ = false;
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
    bool changed = false;
    const char* matrices[] = {"gate", "up", "down"};
    ImGui::SetNextItemWidth(sw);
    changed |= ImGui::Combo("matrix", &matrix_, matrices, 3);
    ImGui::SetNextItemWidth(sw);
    changed |= ImGui::SliderFloat("C'", &c_prime_, 0.5f, 16.0f, "%.2f");
    ImGui::SetNextItemWidth(sw);
    changed |= ImGui::SliderInt("power steps k", &power_steps_, 1, 10);
    const char* ablations[] = {"none", "no power step", "no retraction"};
    ImGui::SetNextItemWidth(sw);
    changed |= ImGui::Combo("ablation", &ablation_, ablations, 3);
    const char* orders[] = {"softmax, top-k", "top-k, softmax"};
    ImGui::SetNextItemWidth(sw);
    changed |= ImGui::Combo("gating", &order_, orders, 2);
    if (changed)
      reset_mpi();
    if (mpi_mode_ == 1) {
      section("Training");
      const char* variants[] = {"vanilla", "mpi", "no-power", "no-retract"};
      for (int i = 0; i < 4; ++i) {
        if (i % 2)
          ImGui::SameLine(ImGui::GetContentRegionAvail().x * 0.5f);
        ImGui::Checkbox(variants[i], &train_variants_[i]);
      }
      const char* sources[] = {"synthetic mixture", "checkpoint embeddings"};
      ImGui::SetNextItemWidth(sw);
      ImGui::Combo("tokens", &train_tokens_, sources, 2);
      ImGui::SetNextItemWidth(sw);
      ImGui::SliderFloat("lr", &train_lr_, 1e-5f, 1e-1f, "%.1e", ImGuiSliderFlags_Logarithmic);
      ImGui::SetNextItemWidth(sw);
      ImGui::SliderInt("steps", &train_steps_, 10, 2000, "%d", ImGuiSliderFlags_Logarithmic);
      ImGui::SetNextItemWidth(sw);
      ImGui::SliderInt("batch", &train_batch_, 32, 2048, "%d", ImGuiSliderFlags_Logarithmic);
    }
    ImGui::TextDisabled("Load: %d synthetic probe tokens", mpi_settings_.probe_tokens);
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

void App::start_training(int steps) {
  if (!model_ || model_->alignment.empty())
    throw_input_error("train: no model is open");
  train_job_.reset();
  TrainSettings t;
  t.layer = model_->alignment[sel_row_].layer;
  t.variants.clear();
  const char* names[] = {"vanilla", "mpi", "no-power", "no-retract"};
  for (int i = 0; i < 4; ++i)
    if (train_variants_[i])
      t.variants.push_back(names[i]);
  if (t.variants.empty())
    throw_input_error("train: choose at least one variant");
  t.steps = std::max(steps, 1);
  t.batch = train_batch_;
  t.adamw.lr = train_lr_;
  t.adamw.warmup_steps = std::min(20, t.steps / 5);
  t.mpi.matrix = ExpertMatrix(matrix_);
  t.mpi.c_prime = c_prime_;
  t.mpi.power_steps = power_steps_;
  t.mpi.order = GateOrder(order_);
  const bool embeddings = train_tokens_ == 1;
  auto model = model_;
  train_layer_ = t.layer;
  train_config_ =
      io::training_config(t, nlohmann::json{{"source", "routerscope gui"},
                                            {"tokens", embeddings ? "embeddings" : "synthetic"},
                                            {"pool", 4096},
                                            {"held_out", 1024}}
                                 .dump());
  train_follow_ = true;
  train_view_ = PlotView{};
  if (mpi_mode_ == 1)
    replaying_.clear();
  train_pub_.publish(std::make_shared<const std::vector<TrainStepRecord>>());
  train_job_ = std::make_unique<Job>("train", [this, model, t, embeddings](const Progress& p) {
    const int d = model->info.d_model;
    p(0.0, "preparing tokens");
    const MatrixF tokens = embeddings ? embedding_tokens(*model->model, t.layer, 4096, t.seed)
                                      : synthetic_tokens(4096, d, t.seed);
    const MatrixF held_out = synthetic_tokens(1024, d, t.seed + 1);
    auto history = std::make_shared<std::vector<TrainStepRecord>>();
    train_router(
        *model->model, tokens, held_out, t,
        [&](const TrainStepRecord& r) {
          history->push_back(r);
          train_pub_.publish(std::make_shared<const std::vector<TrainStepRecord>>(*history));
        },
        p);
  });
}

Figure App::training_figure(const std::string& name) const {
  if (!train_records_ || train_records_->empty())
    throw_input_error("figure " + name + ": no router training steps yet (press Train)");
  if (train_record_source_ != train_records_) {
    train_record_ = std::make_shared<const io::RunRecord>(
        io::training_record(*train_records_, train_layer_, train_config_));
    train_record_source_ = train_records_;
    train_figure_cache_.reset();
  }
  if (!train_figure_cache_ || train_figure_name_ != name) {
    const auto it = std::find_if(std::begin(kTrainFigures), std::end(kTrainFigures),
                                 [&](const auto& f) { return name == f[0]; });
    if (it == std::end(kTrainFigures))
      throw_input_error("unknown training figure '" + name + "'");
    train_figure_cache_ =
        std::make_shared<const Figure>(io::record_figure(*train_record_, (*it)[1], train_layer_));
    train_figure_name_ = name;
  }
  return *train_figure_cache_;
}

void App::draw_training() {
  const float em = ImGui::GetFontSize();
  const bool running = train_job_ != nullptr;
  if (ImGui::Button(running ? "Cancel" : "Train", ImVec2(em * 5, 0))) {
    if (running)
      train_job_->cancel();
    else
      start_training(train_steps_);
  }
  ImGui::SameLine();
  ImGui::TextDisabled("AdamW on the layer's own MoE output (experts frozen); same batches for "
                      "every variant");
  const int count = train_records_ ? int(train_records_->size()) : 0;
  if (count == 0) {
    ImGui::TextDisabled("Choose variants and settings in the sidebar, then press Train.");
    return;
  }
  int steps = 0;
  for (const auto& r : *train_records_)
    steps = std::max(steps, r.step + 1);
  ImGui::SetNextItemWidth(em * 16);
  ImGui::Combo("##tfigure", &train_figure_, kTrainFigureLabels, int(std::size(kTrainFigureLabels)));
  if (!replaying_.empty() && mpi_mode_ == 1) {
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(0.9f, 0.55f, 0.1f, 1), "replay of %s",
                       fs::path(replaying_).filename().string().c_str());
  }
  ImGui::SetNextItemWidth(-em * 7);
  if (ImGui::SliderInt("##ttimeline", &train_timeline_, 0, std::max(0, steps - 1), "step %d"))
    train_follow_ = train_timeline_ == steps - 1;
  ImGui::SameLine();
  ImGui::Text("%d steps", steps);
  figure_textures_.begin_frame();
  const int hover = figure_view("train", training_figure(kTrainFigures[train_figure_][0]), steps,
                                train_timeline_, train_view_, ImGui::GetContentRegionAvail(),
                                theme_ == Theme::Dark, figure_textures_);
  if (hover >= 0) {
    ImGui::BeginTooltip();
    ImGui::Text("step %d", hover);
    for (const auto& r : *train_records_)
      if (r.step == hover)
        ImGui::Text("%-10s loss %.5g  LB %.4g  MaxVio %.3f  mean λ %.3f", r.name.c_str(), r.loss,
                    r.lb_loss, r.maxvio_batch, r.lambda.size() ? r.lambda.mean() : NAN);
    ImGui::EndTooltip();
    if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
      train_timeline_ = hover;
      train_follow_ = hover == steps - 1;
    }
  }
}

void App::draw_mpi_view() {
  const float em = ImGui::GetFontSize();
  const LayerAlignment* la = selected_layer();
  ImGui::RadioButton("Convergence stepping", &mpi_mode_, 0);
  ImGui::SameLine();
  ImGui::RadioButton("Router training", &mpi_mode_, 1);
  if (mpi_mode_ == 1) {
    draw_training();
    return;
  }
  // Transport controls.
  if (ImGui::Button(playing_ ? "Pause" : "Play", ImVec2(em * 4.5f, 0)))
    set_playing(!playing_);
  ImGui::SameLine();
  if (ImGui::Button("Step"))
    step(1);
  ImGui::SameLine();
  if (ImGui::Button(("Step x" + std::to_string(step_n_)).c_str()))
    step(step_n_);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 4);
  ImGui::InputInt("##n", &step_n_, 0);
  step_n_ = std::clamp(step_n_, 1, 10000);
  ImGui::SameLine();
  if (ImGui::Button("Reset"))
    reset_mpi();
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 9);
  ImGui::SliderFloat("steps/s", &speed_, 1.0f, 120.0f, "%.0f", ImGuiSliderFlags_Logarithmic);
  ImGui::SameLine();
  ImGui::TextDisabled("layer L%d, expert %d", la->layer, sel_expert_);
  if (!replaying_.empty()) {
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(0.9f, 0.55f, 0.1f, 1), "replay of %s",
                       fs::path(replaying_).filename().string().c_str());
  }
  // Timeline scrubber.
  const int count = records_ ? int(records_->size()) : 0;
  ImGui::SetNextItemWidth(-em * 7);
  int t = timeline_;
  if (ImGui::SliderInt("##timeline", &t, 0, std::max(0, count - 1),
                       count ? "step %d" : "no steps")) {
    timeline_ = t;
    follow_ = t == count - 1;
    playing_ = false;
  }
  ImGui::SameLine();
  ImGui::Text("%d recorded", count);
  if (!records_ || records_->empty()) {
    ImGui::Spacing();
    ImGui::TextDisabled(
        "Press Play or Step to run convergence stepping Rᵢ ← C·normalize(GᵢᵀGᵢRᵢ) on "
        "this layer.");
    return;
  }
  const auto& recs = *records_;
  timeline_ = std::clamp(timeline_, 0, count - 1);
  ImGui::SetNextItemWidth(em * 14);
  ImGui::Combo("##mpipage", &mpi_page_, kMpiPages, int(std::size(kMpiPages)));
  const bool dark = theme_ == Theme::Dark;
  int hover = -1;
  if (mpi_page_ == 0) {
    figure_textures_.begin_frame();
    hover = figure_view("convergence", build_figure("convergence"), count, timeline_, conv_view_,
                        ImGui::GetContentRegionAvail(), dark, figure_textures_);
    if (hover >= 0) {
      const io::ConvergenceRecord& c = mpi_record()->layers.front();
      const Eigen::Index e =
          std::min<Eigen::Index>(sel_expert_, c.series.at("tan_theta").cols() - 1);
      ImGui::BeginTooltip();
      ImGui::Text("step %d", hover);
      ImGui::Separator();
      ImGui::Text("expert %d: tan θ %.4g   bound %.4g   |cos| %.6f", int(e),
                  c.series.at("tan_theta")(hover, e), c.series.at("tan_bound")(hover, e),
                  c.series.at("cos")(hover, e));
      ImGui::EndTooltip();
      if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
        timeline_ = hover;
        follow_ = hover == count - 1;
      }
    }
    return;
  }
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 spacing = ImGui::GetStyle().ItemSpacing;
  const float top_h = (avail.y - spacing.y) * 0.5f;
  const ImVec2 cell((avail.x - spacing.x) * 0.5f, top_h);
  auto take = [&](int h) {
    if (h >= 0)
      hover = h;
  };
  figure_textures_.begin_frame();
  take(figure_view("align", build_figure("alignment"), count, timeline_, align_view_, cell, dark,
                   figure_textures_));
  ImGui::SameLine();
  take(figure_view("norms", build_figure("norms"), count, timeline_, norm_view_, cell, dark,
                   figure_textures_));
  take(figure_view("load", build_figure("load"), count, timeline_, load_view_,
                   ImVec2(avail.x, avail.y - top_h - spacing.y), dark, figure_textures_));
  if (hover >= 0) {
    const MpiStepRecord& r = recs[hover];
    const int e = std::min(sel_expert_, int(r.cos.size()) - 1);
    ImGui::BeginTooltip();
    ImGui::Text("step %d", r.step);
    ImGui::Separator();
    ImGui::Text("mean |cos| %.4f   mean λ %.4f", r.mean_cos, r.mean_lambda);
    ImGui::Text("expert %d: |cos| %.4f   λ %.4f   ‖Rᵢ‖ %.4g", e, r.cos[e], r.lambda[e], r.norm[e]);
    ImGui::Text("mean ‖Rᵢ‖ %.4g   MaxVio %.4f   load of expert %d: %.4f", r.mean_norm, r.max_vio, e,
                r.load[e]);
    ImGui::EndTooltip();
  }
  // Clicking a plot moves the timeline there.
  if (hover >= 0 && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    timeline_ = hover;
    follow_ = hover == count - 1;
  }
}

void App::draw_status_bar() {
  ImGui::Separator();
  std::string left = status_;
  if (model_)
    left = model_->path;
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
                playing_         ? "playing"
                : jobs_running() ? "working"
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
  if (figure.starts_with("series-"))
    return series_.figure(figure);
  if (!model_)
    throw_input_error("export " + figure + ": no model is open");
  if (figure.rfind("training", 0) == 0)
    return training_figure(figure);
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
  if (!records_ || records_->empty())
    throw_input_error("export " + figure + ": no MPI steps recorded yet (press Step or Play)");
  if (figure == "convergence") { // the record figure of the run, as `plot` draws it from the file
    if (!mpi_figure_ || mpi_figure_source_ != mpi_record()) {
      mpi_figure_ = std::make_shared<const Figure>(io::record_figure(*mpi_record(), figure));
      mpi_figure_source_ = mpi_record();
    }
    return *mpi_figure_;
  }
  const auto& recs = *records_;
  const int n = int(recs.front().cos.size());
  const int layer = model_->alignment[sel_row_].layer;
  std::vector<double> steps;
  for (const auto& r : recs)
    steps.push_back(r.step);
  auto per_expert = [&](std::vector<double> MpiStepRecord::*field) {
    std::vector<std::vector<double>> out(n);
    for (const auto& r : recs)
      for (int i = 0; i < n; ++i)
        out[i].push_back((r.*field)[i]);
    return out;
  };
  if (figure == "alignment") {
    ConvergenceData data;
    data.steps = steps;
    data.quantity = "|cos(Rᵢ, u₁)|";
    data.log_y = false;
    data.layers.push_back({layer, per_expert(&MpiStepRecord::cos), {sel_expert_}, {}, {}});
    Figure f = mpi_convergence_figure(data, kSingleColumnWidth);
    f.title = "Alignment to u₁ over MPI steps";
    return f;
  }
  if (figure == "norms") {
    std::vector<double> mean, lo, hi, sel;
    for (const auto& r : recs) {
      mean.push_back(r.mean_norm);
      lo.push_back(*std::min_element(r.norm.begin(), r.norm.end()));
      hi.push_back(*std::max_element(r.norm.begin(), r.norm.end()));
      sel.push_back(r.norm[std::min(sel_expert_, n - 1)]);
    }
    Figure f = router_norm_figure({{"mean ‖Rᵢ‖", steps, mean},
                                   {"min", steps, lo},
                                   {"max", steps, hi},
                                   {"expert " + std::to_string(sel_expert_), steps, sel}},
                                  "MPI step");
    f.title = "Router row norms, layer " + std::to_string(layer);
    return f;
  }
  if (figure == "load") {
    LoadHistory h;
    h.layer = layer;
    h.steps = steps;
    h.load = per_expert(&MpiStepRecord::load);
    for (const auto& r : recs)
      h.maxvio_batch.push_back(r.max_vio);
    Figure f = load_distribution_figure({h});
    f.title = "Expert load on probe tokens over MPI steps";
    return f;
  }
  if (figure == "maxvio") {
    std::vector<double> vio;
    for (const auto& r : recs)
      vio.push_back(r.max_vio);
    Figure f = router_norm_figure({{"MaxVio", steps, vio}}, "MPI step");
    f.title = "MaxVio on probe tokens, layer " + std::to_string(layer);
    for (auto& panel : f.panels)
      panel.y.label = "MaxVio";
    return f;
  }
  throw_input_error("unknown figure '" + figure +
                    "' (expected convergence, alignment, norms, load, maxvio, heatmap, training, "
                    "training-load or training-norms)");
}

std::shared_ptr<const io::RunRecord> App::mpi_record() const {
  if (!model_ || !records_ || records_->empty())
    throw_input_error("no MPI steps recorded yet (press Step or Play)");
  if (mpi_record_source_ != records_) {
    mpi_record_ = std::make_shared<const io::RunRecord>(
        convergence_record(*model_, run_settings_, *records_));
    mpi_record_source_ = records_;
  }
  return mpi_record_;
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
    if (figure == "session" && view_ == View::Series) {
      if (ext != ".h5")
        throw_input_error("cannot save the session to " + file + ": expected a .h5 file name");
      series_.save_record(file); // a copy of the series record
      exported_.push_back(file);
      return;
    }
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
      if (!model_ || !train_records_ || train_records_->empty())
        throw_input_error("cannot save the session to " + file +
                          ": no router training steps recorded yet (press Train)");
      if (train_job_)
        throw_input_error("cannot save the session to " + file +
                          ": router training is still running (wait or Cancel)");
      auto model = model_;
      auto records = train_records_;
      const int layer = train_layer_;
      const std::string config = train_config_;
      export_job_.reset();
      export_job_ =
          std::make_unique<Job>("save", [model, records, layer, config, file](const Progress& p) {
            p(0.0, "writing " + file);
            save_training_record(file, *model, layer, config, *records);
          });
      exported_.push_back(file);
      return;
    }
    if (figure == "session") {
      if (ext != ".h5")
        throw_input_error("cannot save the session to " + file + ": expected a .h5 file name");
      if (!model_ || !records_ || records_->empty())
        throw_input_error("cannot save the session to " + file +
                          ": no MPI steps recorded yet (press Step or Play)");
      auto model = model_;
      auto records = records_;
      const MpiRunSettings settings = run_settings_;
      export_job_.reset();
      export_job_ =
          std::make_unique<Job>("save", [model, records, settings, file](const Progress& p) {
            p(0.0, "writing " + file);
            save_convergence_record(file, *model, settings, *records);
          });
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
  if (follower_ && series_.source() == follower_->path())
    return series_.checkpoints();
  if (!follower_ || replaying_ != follower_->path() || open_job_)
    return 0;
  if (mpi_mode_ == 1)
    return train_records_ && !train_records_->empty() ? train_records_->back().step + 1 : 0;
  return records_ ? int(records_->size()) : 0;
}

std::string App::state_json() const {
  nlohmann::json j;
  j["opened_path"] = model_ ? model_->path : "";
  j["view"] = view_name(view_);
  if (!test_pattern_.empty()) {
    nlohmann::json points = nlohmann::json::array();
    for (const ImVec2& p : pattern_points_)
      points.push_back({p.x, p.y});
    j["test_pattern"] = {{"name", test_pattern_}, {"width", kPatternWidth}, {"points", points}};
  }
  j["pretraining"] = pretrain_.state();
  j["series"] = series_.state();
  j["theme"] = theme_ == Theme::Dark ? "dark" : "light";
  j["metric"] = metric_ == Metric::Cos ? "cos" : "lambda";
  j["error"] = error_;
  j["playing"] = playing_;
  const LayerAlignment* la = selected_layer();
  j["selected_layer"] = la ? la->layer : -1;
  j["selected_expert"] = la ? sel_expert_ : -1;
  j["step_index"] = records_ && !records_->empty() ? (*records_)[timeline_].step : -1;
  j["steps_recorded"] = records_ ? int(records_->size()) : 0;
  j["training_steps"] =
      train_records_ && !train_records_->empty() ? train_records_->back().step + 1 : 0;
  if (records_ && !records_->empty()) {
    j["mean_cos"] = (*records_)[timeline_].mean_cos;
    j["mean_lambda"] = (*records_)[timeline_].mean_lambda;
  }
  j["exports"] = exported_;
  j["quit_requested"] = quit_;
  j["device"] = backend_->name();
  j["device_note"] = device_note_;
  j["browser_open"] = popup_open("Open checkpoint or record");
  j["browser"] = browser_.state();
  j["export_dialog_open"] = popup_open("Export");
  j["mpi_mode"] = mpi_mode_ == 0 ? "convergence" : "training";
  j["training_layer"] = train_layer_;
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
