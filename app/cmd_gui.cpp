// `routerscope gui [PATH]`: the desktop GUI (only in builds with ROUTERSCOPE_GUI). The one file
// that joins the front ends: a CLI command (app/cli's registration and parsing) that runs app/gui.
#include "app/cli/command_line.h"
#include "app/gui/gui.h"
#include "core/compute_backend.h"
#include "core/error.h"

#include <string>

namespace routerscope::cli {

namespace {

int run_gui_command(const Argv& argv) {
  CommandLine cl(
      "gui", "Open the desktop GUI (ImGui + GLFW).",
      "--screenshot renders N frames offscreen after the script's actions, writes the PNG and\n"
      "exits. Script lines: open PATH | drop PATH | select LAYER EXPERT | step N | play FRAMES |\n"
      "  train STEPS | start-train STEPS | pretrain STEPS | start-pretrain STEPS |\n"
      "  export FIGURE FILE | view model|expert|mpi|pretrain|series |\n"
      "  key space|right|ctrl+o|ctrl+e|ctrl+q | theme light|dark | size W H |\n"
      "  metric cos|lambda | browse FOLDER | browse-hub | browse-hidden on|off |\n"
      "  browse-open NAME | follow RUN.h5 | wait-steps N|+N | state FILE |\n"
      "  open-series PATH... | start-series PATH... | wait-checkpoints N | series-cursor K |\n"
      "  series-select LAYER EXPERT | series-figure NAME | set NAME VALUE (c-prime,\n"
      "  power-steps, matrix, ablation, gating, lr, batch, tokens, variants) | clear-previous\n"
      "Figures: alignment norms load maxvio heatmap training training-load training-norms\n"
      "  pretraining pretraining-load pretraining-alignment pretraining-norms series-alignment\n"
      "  series-norms series-load session");
  gui::GuiOptions o;
  std::string path, size;
  CLI::App& app = cl.app();
  app.add_option("PATH", path,
                 "checkpoint (folder, .safetensors, .index.json, Hub repo id ORG/NAME[@REVISION] "
                 "or models--ORG--NAME cache folder) or .h5 record (default: the bundled demo)");
  app.add_option("--size", size, "window size WxH (default: the last one used, else 1440x900)");
  app.add_option("--theme", o.theme, "colour theme (default: the last one used, else dark)")
      ->check(one_of({"dark", "light"}));
  app.add_flag("--remember", o.remember,
               "screenshot mode: read and write the remembered theme and window size too "
               "($XDG_CONFIG_HOME/routerscope/gui.json), as an interactive session does");
  cl.add_device(o.device);
  app.add_option("--screenshot", o.screenshot, "render offscreen, write FILE.png and exit");
  app.add_option("--frames", o.frames, "frames rendered before the screenshot")
      ->check(CLI::Range(1, 100000));
  app.add_option("--script", o.script, "scripted actions, one per line (screenshot mode)");
  app.add_option("--state-json", o.state_json, "write the view state as JSON (screenshot mode)");
  app.add_flag("--frame-stats", o.frame_stats, "print p50/p99 frame times at exit");
  app.add_flag("--follow", o.follow,
               "PATH is a run record that train/mpi/pretrain/series --record still writes: plots "
               "grow as steps land");
  if (auto rc = cl.parse(argv))
    return *rc;
  if (!size.empty()) {
    o.size_given = true;
    const auto x = size.find('x');
    try {
      if (x == std::string::npos)
        throw 0;
      o.width = std::stoi(size.substr(0, x));
      o.height = std::stoi(size.substr(x + 1));
    } catch (...) {
      throw_input_error("gui: --size expects WxH (e.g. 1440x900), found '" + size + "'");
    }
    if (o.width < 320 || o.height < 240 || o.width > 8192 || o.height > 8192)
      throw_input_error("gui: --size " + size + " is outside 320x240 .. 8192x8192");
  }
  if ((o.script.size() || o.state_json.size()) && o.screenshot.empty())
    throw_input_error("gui: --script and --state-json need --screenshot FILE.png");
  if (o.follow) {
    // The record may not exist yet (the run is starting): it is waited for, not resolved.
    if (path.empty() || !path.ends_with(".h5"))
      throw_input_error("gui: --follow needs a run record PATH ending in .h5, found '" + path +
                        "'");
    o.path = path;
  } else {
    o.path = cl.checkpoint(path);
  }
  return gui::run_gui(o);
}

const Registrar kRegistrar({"gui", "open the desktop GUI (ImGui + GLFW)", run_gui_command});

} // namespace

} // namespace routerscope::cli
