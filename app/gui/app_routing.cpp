// App's routing of figures and state: which panel builds a named figure (as the screen shows it,
// for export), the zoom of the figure on screen, exports, and the state JSON of every panel.
#include "app/gui/app.h"

#include "app/gui/help_text.h"
#include "app/gui/ui_font.h"
#include "app/gui/widgets.h"
#include "core/error.h"
#include "core/number_format.h"
#include "io/figure_export.h"
#include "io/record_figures.h"

#include <imgui.h>
#include <imgui_internal.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

namespace routerscope::gui {

namespace fs = std::filesystem;

Figure App::build_figure(const std::string& figure) const {
  // As the screen shows it: the panel's figure viewed with the View menu's options.
  Figure f = [&] {
    if (figure.starts_with("pretraining"))
      return pretrain_.figure(figure);
    if (figure.starts_with("series-"))
      return series_.figure(figure);
    if (!model())
      throw_input_error("export " + figure + ": no model is open");
    if (figure.rfind("training", 0) == 0)
      return training_.figure(figure);
    if (figure == "heatmap")
      return model_panel_.heatmap_figure();
    return convergence_.figure(figure, model_context());
  }();
  ViewOptions options = screen_view_options();
  if (const PlotView* view = zoom_of(figure))
    options = view->options(options);
  if (figure == "heatmap") // the model view's colours: the chosen range, else the data's
    options.color_range = options.color_range.value_or(ColorRange::Data);
  apply_view_options(f, options);
  return f;
}

const PlotView* App::zoom_of(const std::string& figure) const {
  if (figure.starts_with("pretraining"))
    return pretrain_.zoom(figure);
  if (figure.starts_with("training"))
    return training_.zoom(figure);
  return convergence_.zoom(figure);
}

std::string App::screen_figure() const {
  switch (view_) {
  case View::Mpi:
    return mpi_mode_ == 1 ? training_.shown_figure() : convergence_.shown_figure();
  case View::Pretrain:
    return pretrain_.shown_figure();
  case View::Series:
    return series_.shown_figure();
  default:
    return "heatmap";
  }
}

void App::zoom(double x0, double x1, double y0, double y1) {
  const std::string figure = screen_figure();
  // The panels own their zooms; App changes the one of the figure on screen, as wheel and drag do.
  auto* view = const_cast<PlotView*>(zoom_of(figure));
  if (!view)
    throw_input_error("zoom: the figure on screen (" + figure + ") does not zoom");
  if (!(x0 < x1) || (y0 > y1) || !std::isfinite(x0) || !std::isfinite(x1))
    throw_input_error("zoom: expected X0 < X1 (and Y0 < Y1)");
  *view = PlotView{x0, x1, y0, y1};
}

void App::show_figure(const std::string& name) {
  ExportPanel::check_figure_name(name);
  if (name == "heatmap")
    return set_view(View::Model);
  if (name.starts_with("series-")) {
    series_.set_figure(name);
    return set_view(View::Series);
  }
  if (pretrain_.show(name))
    return set_view(View::Pretrain);
  if (training_.show(name) || convergence_.show(name)) {
    set_view(View::Mpi);
    return set_mpi_mode(name.starts_with("training") ? 1 : 0);
  }
  throw_input_error("show: the figure '" + name +
                    "' is not shown on its own (it is exported only)");
}

void App::answer_export(bool replace) {
  exporter_.begin();
  if (auto request = exporter_.answer(replace))
    export_figure(request->figure, request->file, true);
}

void App::export_figure(const std::string& figure, const std::string& file, bool replace) {
  exporter_.begin();
  try {
    ExportPanel::check_figure_name(figure);
    if (figure == "session")
      ExportPanel::check_session_file(file);
    else
      ExportPanel::check_figure_file(figure, file);
    if (!replace && fs::exists(file)) { // asks first (the question's Replace comes back here)
      exporter_.ask_replace({figure, file});
      return;
    }
    if (figure == "session") { // the run of the view on screen, as an HDF5 record
      if (view_ == View::Pretrain) {
        pretrain_.save_record(file); // a copy of the run's own record
        exporter_.written(file);
      } else if (view_ == View::Series) {
        series_.save_record(file); // a copy of the series record
        exporter_.written(file);
      } else if (mpi_mode_ == 1) {
        exporter_.write_session(training_.save_work(file, model()), file);
      } else {
        exporter_.write_session(convergence_.save_work(file, model()), file);
      }
      return;
    }
    exporter_.write_figure(build_figure(figure), file);
  } catch (const Error& e) {
    exporter_.failed(e.what());
    show_error(e.what());
  }
}

int App::followed_steps() const {
  if (follower_ && pretrain_.source() == follower_->path())
    return pretrain_.steps();
  if (follower_ && series_.source() == follower_->path())
    return series_.checkpoints();
  if (!follower_ || replaying_ != follower_->path() || model_panel_.opening())
    return 0;
  if (mpi_mode_ == 1)
    return training_.steps();
  return convergence_.steps_recorded();
}

std::string App::state_json() const {
  nlohmann::json j;
  model_panel_.state(j);
  j["view"] = name_of(kViewNames, view_);
  if (!test_pattern_.empty()) {
    nlohmann::json points = nlohmann::json::array();
    for (const ImVec2& p : pattern_points_)
      points.push_back({p.x, p.y});
    j["test_pattern"] = {{"name", test_pattern_}, {"width", kPatternWidth}, {"points", points}};
  }
  j["pretraining"] = pretrain_.state();
  j["series"] = series_.state();
  const ViewOptions& vo = screen_view_options();
  j["view_options"] = {{"smoothing", vo.smoothing},
                       {"log_y", vo.log_y},
                       {"color_range", vo.color_range ? to_string(*vo.color_range) : "figure"}};
  j["theme"] = name_of(kThemeNames, theme_);
  const ImVec2 display = ImGui::GetIO().DisplaySize;
  j["window_size"] = {int(display.x), int(display.y)};
  j["settings_file"] = options_.settings_file; // empty: none read or written
  j["settings_warning"] = options_.settings_warning;
  nlohmann::json glyphs = nlohmann::json::object(); // in the atlas, not ImGui's fallback glyph
  const ImFont* ui_font =
      ImGui::GetIO().Fonts->Fonts.empty() ? nullptr : ImGui::GetIO().Fonts->Fonts[0];
  for (std::size_t i = 0; i < std::size(kUiFontGlyphs); ++i)
    glyphs[std::string(kUiFontGlyphs[i])] =
        ui_font && ui_font->FindGlyphNoFallback(ImWchar(kUiFontCodepoints[i])) != nullptr;
  j["font"] = {{"file", options_.font_file}, {"source", options_.font_source}, {"glyphs", glyphs}};
  j["error"] = error_;
  convergence_.state(j);
  training_.state(j);
  exporter_.state(j);
  j["screen_figure"] = screen_figure();
  nlohmann::json text = nlohmann::json::array(); // the figures' text boxes as last drawn
  for (const ScreenFigureText& f : screen_figure_text()) {
    nlohmann::json boxes = nlohmann::json::array();
    for (const auto& b : f.boxes)
      boxes.push_back({b.text, b.box.Min.x, b.box.Min.y, b.box.Max.x, b.box.Max.y});
    text.push_back({{"id", f.id},
                    {"rect", {f.rect.Min.x, f.rect.Min.y, f.rect.Max.x, f.rect.Max.y}},
                    {"x_axis", {f.x_min, f.x_max}},
                    {"boxes", boxes}});
  }
  j["figure_text"] = text;
  if (const PlotView* view = zoom_of(screen_figure()))
    j["zoom"] = {{"x", view->fitted() ? nlohmann::json() : nlohmann::json({view->x0, view->x1})},
                 {"y", view->y_fitted() ? nlohmann::json() : nlohmann::json({view->y0, view->y1})}};
  j["quit_requested"] = quit_;
  j["jobs_running"] = jobs_running();
  j["device"] = backend_->name();
  j["device_note"] = device_note_;
  j["browser_open"] = popup_open("Open checkpoint or record");
  j["browser"] = browser_.state();
  j["mpi_mode"] = mpi_mode_ == 0 ? "convergence" : "training";
  nlohmann::json labels = nlohmann::json::array(); // every help_tip label of the last frame
  for (const auto& [name, has] : help_labels())
    labels.push_back(
        {{"name", name}, {"tooltip", has}, {"text", has ? find_help(name)->text : ""}});
  j["help_labels"] = labels;
  nlohmann::json shown = nlohmann::json::object(); // the sidebar's label: value rows as drawn
  for (const auto& [label, value] : shown_values())
    if (!shown.contains(label))
      shown[label] = value;
  j["shown_values"] = shown;
  j["replaying"] = replaying_;
  expert_.state(j);
  j["following"] = follower_ ? follower_->path() : "";
  j["follow_status"] = follower_ ? follower_->status() : "";
  return j.dump(2);
}

} // namespace routerscope::gui
