// `routerscope gui [PATH]`: the desktop GUI (only in builds with ROUTERSCOPE_GUI).
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/gui/gui.h"
#include "core/compute_backend.h"
#include "core/error.h"

#include <string>

namespace routerscope::cli {

namespace {

int run_gui_command(const Argv& argv) {
  Args args("gui", argv,
            {"screenshot", "frames", "script", "state-json", "size", "theme", "device"},
            {"frame-stats"});
  args.require_positionals(0, 1);
  gui::GuiOptions o;
  if (!args.positionals().empty())
    o.path = args.positionals()[0];
  o.screenshot = args.get_or("screenshot", "");
  o.frames = args.get_int("frames", 3, 1, 100000);
  o.script = args.get_or("script", "");
  o.state_json = args.get_or("state-json", "");
  o.frame_stats = args.flag("frame-stats");
  o.theme = args.get_or("theme", "dark");
  o.device = args.get_or("device", "auto");
  parse_device(o.device); // a bad name is a usage error before any window opens
  if (o.theme != "dark" && o.theme != "light")
    throw_input_error("gui: --theme expects dark or light, found '" + o.theme + "'");
  if (auto size = args.get("size")) {
    const auto x = size->find('x');
    try {
      if (x == std::string::npos)
        throw 0;
      o.width = std::stoi(size->substr(0, x));
      o.height = std::stoi(size->substr(x + 1));
    } catch (...) {
      throw_input_error("gui: --size expects WxH (e.g. 1440x900), found '" + *size + "'");
    }
    if (o.width < 320 || o.height < 240 || o.width > 8192 || o.height > 8192)
      throw_input_error("gui: --size " + *size + " is outside 320x240 .. 8192x8192");
  }
  if ((o.script.size() || o.state_json.size()) && o.screenshot.empty())
    throw_input_error("gui: --script and --state-json need --screenshot FILE.png");
  return gui::run_gui(o);
}

const Registrar kRegistrar({"gui", "open the desktop GUI (ImGui + GLFW)",
                            "usage: routerscope gui [PATH] [--size WxH] [--theme dark|light]\n"
                            "         [--device auto|cpu|cuda]\n"
                            "         [--screenshot FILE.png --frames N [--script FILE] "
                            "[--state-json FILE]] [--frame-stats]\n\n"
                            "Opens PATH (checkpoint folder, .safetensors, .index.json or .h5 "
                            "record; default: the bundled demo).\n"
                            "--screenshot renders N frames offscreen after the script's actions, "
                            "writes the PNG and exits.\n"
                            "Script lines: open PATH | drop PATH | select LAYER EXPERT | step N | "
                            "play FRAMES |\n"
                            "  train STEPS | export FIGURE FILE | view model|expert|mpi |\n"
                            "  key space|right|ctrl+o|ctrl+e|ctrl+q | theme light|dark | size W H "
                            "|\n"
                            "  metric cos|lambda | browse FOLDER\n"
                            "Figures: alignment norms load maxvio heatmap training training-load "
                            "training-norms session",
                            run_gui_command});

} // namespace

} // namespace routerscope::cli
