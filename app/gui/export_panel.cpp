#include "app/gui/export_panel.h"

#include "app/gui/widgets.h"
#include "core/error.h"
#include "io/figure_export.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iterator>
#include <memory>

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
constexpr const char* kFormats[] = {"png", "svg", "pdf", "csv", "h5"};

std::string extension(const std::string& file) {
  std::string ext = fs::path(file).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

} // namespace

ExportPanel::ExportPanel() : path_((fs::current_path() / "routerscope-figure").string()) {}

void ExportPanel::check_figure_name(const std::string& figure) {
  if (std::find_if(std::begin(kFigureNames), std::end(kFigureNames),
                   [&](const char* name) { return figure == name; }) != std::end(kFigureNames))
    return;
  std::string names;
  for (const char* name : kFigureNames)
    names += (names.empty() ? "" : ", ") + std::string(name);
  throw_input_error("unknown figure '" + figure + "' (expected one of: " + names + ")");
}

void ExportPanel::check_session_file(const std::string& file) {
  if (extension(file) != ".h5")
    throw_input_error("cannot save the session to " + file + ": expected a .h5 file name");
}

void ExportPanel::check_figure_file(const std::string& figure, const std::string& file) {
  const std::string ext = extension(file);
  if (ext != ".csv" && ext != ".png" && ext != ".svg" && ext != ".pdf")
    throw_input_error("cannot export " + figure + " to " + file +
                      ": expected a .png, .svg, .pdf or .csv file name");
}

void ExportPanel::write_figure(Figure figure, const std::string& file) {
  auto fig = std::make_shared<const Figure>(std::move(figure));
  const bool csv = extension(file) == ".csv";
  slot_.start("export", [fig, file, csv](const Progress& p, Published<Nothing>&) {
    p(0.0, "writing " + file);
    if (csv)
      io::export_figure_csv(*fig, file);
    else
      io::export_figure(*fig, file);
  });
  exported_.push_back(file);
}

void ExportPanel::write_session(std::function<void(const Progress&)> work,
                                const std::string& file) {
  slot_.start("save",
              [work = std::move(work)](const Progress& p, Published<Nothing>&) { work(p); });
  exported_.push_back(file);
}

std::string ExportPanel::poll() {
  if (auto s = slot_.poll(); s && s->state == JobState::Failed) {
    error_ = s->error;
    return "Export failed:\n" + s->error;
  }
  return "";
}

void ExportPanel::open_dialog(bool session, const std::string& figure) {
  const auto* it = std::find_if(std::begin(kFigureNames), std::end(kFigureNames),
                                [&](const char* name) { return figure == name; });
  if (session)
    figure_ = kSessionFigure;
  else if (it != std::end(kFigureNames))
    figure_ = int(it - std::begin(kFigureNames));
  open_ = true;
}

void ExportPanel::ask_replace(Request request) {
  question_ = std::move(request);
  ask_ = true;
}

std::optional<ExportPanel::Request> ExportPanel::answer(bool replace) {
  if (!question_)
    throw_input_error("no \"Replace file?\" question is open (it follows an export to a file "
                      "that exists)");
  std::optional<Request> request;
  if (replace) {
    request = std::move(question_);
    request->replace = true;
  }
  question_.reset();
  return request;
}

std::optional<ExportPanel::Request> ExportPanel::draw_question() {
  if (ask_) {
    ImGui::OpenPopup("Replace file?");
    ask_ = false;
  }
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->GetCenter(), ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  if (!ImGui::BeginPopupModal("Replace file?", nullptr, ImGuiWindowFlags_AlwaysAutoResize))
    return std::nullopt;
  std::optional<Request> request;
  const float em = ImGui::GetFontSize();
  if (question_)
    ImGui::Text("Replace %s?", question_->file.c_str());
  ImGui::TextDisabled("The file exists; Replace writes over it.");
  const bool replace = ImGui::Button("Replace", ImVec2(em * 7, 0));
  ImGui::SameLine();
  const bool cancel = ImGui::Button("Cancel", ImVec2(em * 7, 0)) || !question_;
  if (replace || cancel) {
    if (question_)
      request = answer(replace);
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
  return request;
}

std::optional<ExportPanel::Request> ExportPanel::draw_dialog() {
  if (open_) {
    ImGui::OpenPopup("Export");
    open_ = false;
  }
  if (!ImGui::BeginPopupModal("Export", nullptr, ImGuiWindowFlags_AlwaysAutoResize))
    return draw_question();
  std::optional<Request> request;
  const float em = ImGui::GetFontSize();
  ImGui::SetNextItemWidth(em * 12);
  ImGui::Combo("figure", &figure_, kFigureNames, kFigureCount);
  ImGui::SetNextItemWidth(em * 12);
  if (figure_ == kSessionFigure) // the session is an HDF5 run record
    format_ = 4;
  else
    format_ = std::min(format_, 3);
  ImGui::Combo("format", &format_, kFormats, figure_ == kSessionFigure ? 5 : 4);
  ImGui::SetNextItemWidth(em * 28);
  ImGui::InputText("##file", &path_);
  ImGui::SameLine();
  if (ImGui::Button("Browse…"))
    browse(fs::path(path_).parent_path().string());
  ImGui::SameLine();
  ImGui::TextUnformatted("file (without extension)");
  if (ImGui::Button("Export", ImVec2(em * 7, 0))) {
    request = Request{kFigureNames[figure_], path_ + "." + kFormats[format_]};
    ImGui::CloseCurrentPopup();
  }
  ImGui::SameLine();
  if (ImGui::Button("Cancel", ImVec2(em * 7, 0)))
    ImGui::CloseCurrentPopup();
  if (auto chosen = browser_.draw_save()) // drawn inside the dialog: a modal above it
    take_browsed(*chosen);
  ImGui::EndPopup();
  return request;
}

void ExportPanel::browse(const std::string& folder) {
  browser_.open_save(fs::path(folder) / fs::path(path_).filename());
}

void ExportPanel::take_browsed(const std::string& file) {
  path_ = file;
  const std::string ext = extension(file);
  for (int i = 0; i < int(std::size(kFormats)); ++i)
    if (ext == std::string(".") + kFormats[i]) { // a name with a known extension: its format
      path_ = fs::path(file).replace_extension().string();
      if ((i == 4) == (figure_ == kSessionFigure))
        format_ = i;
    }
}

void ExportPanel::state(nlohmann::json& j) const {
  j["exports"] = exported_;
  j["export_dialog_open"] = popup_open("Export");
  j["export_question"] = question_ ? "Replace " + question_->file + "?" : "";
  j["export_file"] = path_ + "." + kFormats[format_];
  j["export_figure"] = kFigureNames[figure_];
  j["export_browser"] = browser_.state();
}

} // namespace routerscope::gui
