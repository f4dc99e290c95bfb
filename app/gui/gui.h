#pragma once
// The desktop GUI entry point (`routerscope gui`), interactive or in screenshot mode.
#include <string>

namespace routerscope::gui {

struct GuiOptions {
  std::string path;         // checkpoint or record to open; empty = the bundled demo
  bool follow = false;      // path is a run record still written: follow it as it grows
  std::string screenshot;   // PNG to write after `frames` frames (offscreen FBO), then exit
  int frames = 3;           // frames rendered after the script in screenshot mode
  std::string script;       // scripted actions, one per line (see script.h)
  std::string state_json;   // view state dumped at exit (screenshot mode)
  bool frame_stats = false; // print p50/p99 frame time at exit
  int width = 1440, height = 900;
  bool size_given = false; // --size: wins over the remembered size
  std::string theme;       // --theme light|dark; empty: the remembered one, else dark
  // Screenshot mode reads and writes the remembered settings (gui_settings.h) only with
  // --remember; an interactive session always does.
  bool remember = false;
  std::string settings_file, settings_warning; // set by run_gui: the file used, what was wrong
  std::string font_file, font_source;          // set by run_gui (ui_font.h)
  std::string device = "auto"; // compute backend: auto | cpu | cuda (core/compute_backend.h)
  float ui_scale = 1.0f;       // HiDPI factor (set by run_gui from the monitor's content scale)
};

// Runs the GUI; returns the process exit code. Throws Error for bad options or a failed script.
int run_gui(const GuiOptions& options);

} // namespace routerscope::gui
