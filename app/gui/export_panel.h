#pragma once
// File ▸ Export: the dialog (figure, format, file), and the job that writes a figure (PNG, SVG or
// PDF through io/figure_export.h, the renderer `plot` uses, or its data as CSV) or a session
// record. Which panel draws a figure or saves the session is App's routing; this panel checks the
// names, writes, and remembers what was exported and why an export failed.
#include "app/gui/file_browser.h"
#include "core/figure.h"
#include "core/jobs.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::gui {

class ExportPanel {
public:
  ExportPanel();
  // BadInput "unknown figure ..." unless `figure` is one of the dialog's names.
  static void check_figure_name(const std::string& figure);
  // BadInput unless `file` ends in .h5 (a session) or .png/.svg/.pdf/.csv (a figure).
  static void check_session_file(const std::string& file);
  static void check_figure_file(const std::string& figure, const std::string& file);

  void begin() { error_.clear(); } // a new export: forgets the last one's error
  // Writes `figure` to `file` on the export job (a running export is joined first).
  void write_figure(Figure figure, const std::string& file);
  // Runs `work` (a session saver) on the export job.
  void write_session(std::function<void(const Progress&)> work, const std::string& file);
  void written(const std::string& file) { exported_.push_back(file); } // written by its panel
  void failed(const std::string& error) { error_ = error; }
  const std::string& error() const { return error_; }

  // Once per frame: the error text when the export job failed (once), else empty.
  std::string poll();
  bool running() const { return slot_.running(); }
  Job* job() const { return slot_.job(); }

  // The next frame opens the dialog at "session" when asked, else at `figure` (the figure on
  // screen; a name the dialog does not offer leaves the choice as it was).
  void open_dialog(bool session, const std::string& figure = "");
  struct Request {
    std::string figure, file;
    bool replace = false; // the file may be replaced (the user said so)
  };
  // The Export button's request, or the Replace question's answer "Replace".
  std::optional<Request> draw_dialog();
  // Asks "Replace FILE?" about `request` (its file exists) from the next frame on.
  void ask_replace(Request request);
  const std::optional<Request>& question() const { return question_; }
  // Answers the open question (as its buttons do): the request to carry out on "Replace",
  // nullopt on "Cancel". BadInput when no question is open.
  std::optional<Request> answer(bool replace);
  // The dialog's Browse… (the file browser in save mode) at `folder`, the file's name kept.
  void browse(const std::string& folder);
  FileBrowser& browser() { return browser_; } // Browse…'s browser (scripts act in it)
  // exports, export_dialog_open, export_question, export_figure and export_file (what the
  // dialog would write) and export_browser (Browse…'s state)
  void state(nlohmann::json& j) const;

private:
  std::optional<Request> draw_question(); // "Replace FILE?" (Replace / Cancel)
  void take_browsed(
      const std::string& file); // Browse…'s choice: the path and, by its extension, the format
  std::vector<std::string> exported_;
  std::string error_;
  bool open_ = false, ask_ = false;
  std::optional<Request> question_; // the export waiting for "Replace FILE?"
  FileBrowser browser_;             // Browse…, in save mode
  int figure_ = 0, format_ = 0;
  std::string path_;
  struct Nothing {};
  JobSlot<Nothing> slot_; // last: its job is cancelled and joined first
};

} // namespace routerscope::gui
