#include "app/common/demo.h"
#include "app/gui/app.h"
#include "app/gui/fonts.h"
#include "app/gui/gui.h"
#include "app/gui/gui_settings.h"
#include "app/gui/script.h"
#include "app/gui/ui_font.h"
#include "core/error.h"
#include "io/app_icon.h"
#include "io/png_image.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace routerscope::gui {

namespace fs = std::filesystem;

namespace {

struct GlfwSession {
  GlfwSession() {
    glfwSetErrorCallback([](int code, const char* text) {
      std::fprintf(stderr, "routerscope gui: GLFW error %d: %s\n", code, text);
    });
    if (!glfwInit())
      throw_input_error("cannot start the GUI: GLFW could not initialise (is DISPLAY set? for "
                        "headless use, run under xvfb-run)");
  }
  ~GlfwSession() { glfwTerminate(); }
};

struct ImGuiSession {
  ImGuiSession(GLFWwindow* window) {
    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGui_ImplGlfw_InitForOpenGL(window, true);
    ImGui_ImplOpenGL3_Init("#version 330 core");
  }
  ~ImGuiSession() {
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
  }
};

double percentile(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const std::size_t i = std::size_t(pos);
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

} // namespace

int run_gui(const GuiOptions& given) {
  const bool offscreen = !given.screenshot.empty();
  // The remembered theme and window (never in screenshot mode unless --remember): the command
  // line's --theme and --size win over them.
  GuiOptions options = given;
  GuiSettings saved;
  if (!offscreen || given.remember) {
    options.settings_file = gui_settings_path().string();
    saved = load_gui_settings(options.settings_file, options.settings_warning);
    if (!options.settings_warning.empty())
      std::fprintf(stderr, "routerscope gui: warning: %s\n", options.settings_warning.c_str());
    if (!given.size_given && saved.width && saved.height) {
      options.width = *saved.width;
      options.height = *saved.height;
    }
  }
  if (options.theme.empty())
    options.theme = saved.theme.value_or("dark");
  std::vector<ScriptAction> script;
  if (!options.script.empty())
    script = load_script(options.script);
  GlfwSession glfw;
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
  glfwWindowHint(GLFW_SCALE_TO_MONITOR, GLFW_TRUE);
  if (offscreen)
    glfwWindowHint(GLFW_VISIBLE, GLFW_FALSE);
  GLFWwindow* window =
      glfwCreateWindow(options.width, options.height, "RouterScope", nullptr, nullptr);
  if (!window)
    throw_input_error("cannot start the GUI: no OpenGL 3.3 core context could be created");
  if (!offscreen && saved.x && saved.y)
    glfwSetWindowPos(window, *saved.x, *saved.y);
  glfwMakeContextCurrent(window);
  glfwSwapInterval(offscreen ? 0 : 1);
  {
    // The same drawing as the installed icon set; the window manager picks the size it needs.
    std::vector<io::RgbaImage> icons;
    std::vector<GLFWimage> images;
    for (int size : {16, 32, 48, 64, 128})
      icons.push_back(io::app_icon_image(size));
    for (auto& icon : icons)
      images.push_back({icon.width, icon.height, icon.pixels.data()});
    glfwSetWindowIcon(window, int(images.size()), images.data());
  }

  // HiDPI: fonts and sizes follow the monitor's content scale (1 in screenshot mode, so images
  // have the requested size and tests see the same layout everywhere).
  float xs = 1, ys = 1;
  if (!offscreen)
    glfwGetWindowContentScale(window, &xs, &ys);
  const float scale = std::clamp(std::max(xs, ys), 1.0f, 4.0f);

  ImGuiSession imgui(window);
  ImGuiIO& io = ImGui::GetIO();
  static std::string ini; // ImGui keeps the pointer
  if (offscreen) {
    io.IniFilename = nullptr;
  } else {
    ini = (config_dir() / "imgui.ini").string();
    io.IniFilename = ini.c_str();
  }
  const UiFont font = load_fonts(io, scale); // fontconfig's, else DejaVu Sans, else ImGui's
  // The atlas is sampled with nearest filtering: glyphs sit on whole pixels, so text looks the
  // same, and software GL (llvmpipe) fills ~40% faster (load_fonts leaves out the baked lines).
  ImTextureID nearest_atlas = nullptr;

  Framebuffer target;
  int fb_w = options.width, fb_h = options.height;
  GuiOptions scaled = options;
  scaled.ui_scale = scale;
  scaled.font_file = font.file;
  scaled.font_source = font.source;
  auto app = std::make_unique<App>(window, scaled);
  if (options.follow)
    app->follow(options.path);
  else
    app->open(options.path.empty() ? app::default_checkpoint() : options.path);

  // Whole frames (UI build + GL render + finish), frames while a background job ran, and the UI
  // thread's own share (polling jobs and building the ImGui frame, no rasterisation).
  std::vector<double> frame_ms, busy_ms, ui_ms;
  // Interactive and idle (no job, not playing, no input for a few frames): sleep until an event or
  // a quarter second passes instead of redrawing at the display rate. Any event (or work) brings
  // back full-rate frames for a few frames so popups and hover states settle.
  int active_frames = 0;
  auto wait_or_poll = [&] {
    if (offscreen || app->busy() || active_frames > 0) {
      active_frames = std::max(0, active_frames - 1);
      glfwPollEvents();
      if (app->busy())
        active_frames = 4;
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    constexpr double kIdleWait = 0.25;
    glfwWaitEventsTimeout(kIdleWait);
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
        0.9 * kIdleWait)
      active_frames = 4; // woken by an event
  };
  auto render_frame = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    wait_or_poll();
    ImGui_ImplOpenGL3_NewFrame(); // creates the font texture on first use
    if (io.Fonts->TexID != nearest_atlas) {
      nearest_atlas = io.Fonts->TexID;
      glBindTexture(GL_TEXTURE_2D, GLuint(reinterpret_cast<std::intptr_t>(nearest_atlas)));
      glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
      glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    }
    ImGui_ImplGlfw_NewFrame();
    if (offscreen) {
      io.DisplaySize = ImVec2(float(fb_w), float(fb_h));
      io.DisplayFramebufferScale = ImVec2(1, 1);
      io.DeltaTime = 1.0f / 60.0f;
      io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
    }
    const auto t_ui = std::chrono::steady_clock::now();
    app->frame();
    if (options.frame_stats)
      ui_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_ui)
              .count());
    if (offscreen) {
      target.resize(fb_w, fb_h);
      target.bind();
    } else {
      int w = 0, h = 0;
      glfwGetFramebufferSize(window, &w, &h);
      Framebuffer::bind_default();
      glViewport(0, 0, w, h);
    }
    const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
    glClearColor(bg.x, bg.y, bg.z, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    if (offscreen)
      glFinish();
    else
      glfwSwapBuffers(window);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (options.frame_stats) { // kept only when asked for: the interactive loop runs for hours
      frame_ms.push_back(ms);
      if (app->busy())
        busy_ms.push_back(ms);
    }
  };
  auto write_state = [&](const std::string& file) {
    std::ofstream out(file);
    out << app->state_json() << '\n';
    if (!out)
      throw_input_error("cannot write the state JSON " + file);
  };
  // Renders frames until no job runs (scripts wait for each action's result).
  auto settle = [&](double timeout_s) {
    const auto start = std::chrono::steady_clock::now();
    render_frame();
    while (app->jobs_running()) {
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
          timeout_s)
        throw_internal_error("screenshot script: a background job did not finish within " +
                             std::to_string(int(timeout_s)) + " s");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      render_frame();
    }
    render_frame();
  };

  std::string script_failure; // the first script action that could not be done
  if (!offscreen) {
    while (!glfwWindowShouldClose(window) && !app->quit_requested())
      render_frame();
  } else {
    settle(300);
    std::string asked; // the export line whose "Replace FILE?" question waits for its answer
    auto unanswered = [&] {
      return asked + "export to " + app->export_question()->file +
             " asks \"Replace?\" (the file exists): answer it on the next line with "
             "'export-confirm replace' or 'export-confirm cancel'";
    };
    for (const auto& a : script) {
      const std::string& v = a.verb;
      // An action that cannot be done ends the script: exit 2 naming the line (after the
      // screenshot and state are written). Opening a bad file is not such an action: it shows
      // the error dialog, as it does for a user.
      const std::string where = options.script + ":" + std::to_string(a.line) + ": ";
      if (app->export_question() && v != "export-confirm") {
        script_failure = unanswered();
        break;
      }
      try {
        if (v == "open") {
          app->open(a.args[0]);
        } else if (v == "select") {
          app->select(std::stoi(a.args[0]), std::stoi(a.args[1]));
        } else if (v == "step" || v == "start-step") {
          app->step(std::stoi(a.args[0]));
          if (v == "start-step") { // e.g. pressing → while the steps run
            render_frame();
            continue;
          }
        } else if (v == "play") {
          app->set_playing(true);
          for (int i = 0; i < std::stoi(a.args[0]); ++i) {
            render_frame();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
          app->set_playing(false);
        } else if (v == "export") {
          app->export_figure(a.args[0], a.args[1]);
          asked = where;
          settle(300); // the export job's own failure (e.g. an unwritable folder) is known after it
          if (!app->export_error().empty())
            throw_input_error("export " + a.args[0] + " " + a.args[1] +
                              " cannot be done: " + app->export_error());
        } else if (v == "export-confirm") {
          app->answer_export(a.args[0] == "replace");
          settle(300);
          if (!app->export_error().empty())
            throw_input_error("export-confirm " + a.args[0] +
                              " cannot be done: " + app->export_error());
        } else if (v == "export-browse") {
          app->open_export_dialog();
          app->exporter().browse(a.args[0]);
        } else if (v == "export-browse-open") {
          app->exporter().browser().activate(a.args[0]);
        } else if (v == "export-browse-choose") {
          app->exporter().browser().choose_name(a.args[0]);
        } else if (v == "show") {
          app->show_figure(a.args[0]);
        } else if (v == "zoom") {
          std::vector<double> z;
          for (const auto& w : a.args)
            z.push_back(std::stod(w)); // checked by parse_script
          app->zoom(z[0], z[1], z.size() == 4 ? z[2] : 0, z.size() == 4 ? z[3] : 0);
        } else if (v == "view") {
          app->set_view(parse_name(kViewNames, a.args[0], "view"));
        } else if (v == "theme") {
          app->set_theme(parse_name(kThemeNames, a.args[0], "theme"));
        } else if (v == "set") {
          app->set_setting(a.args[0], a.args[1]);
        } else if (v == "clear-previous") {
          app->clear_previous_runs();
        } else if (v == "metric") {
          app->set_metric(parse_name(kMetricNames, a.args[0], "metric"));
        } else if (v == "smooth") {
          screen_view_options().smoothing = std::stod(a.args[0]); // checked by parse_script
        } else if (v == "log-y") {
          screen_view_options().log_y = a.args[0] == "on";
        } else if (v == "color-range") {
          auto& range = screen_view_options().color_range;
          if (a.args[0] == "figure")
            range.reset();
          else
            range = parse_color_range(a.args[0]);
        } else if (v == "train" || v == "start-train") {
          app->set_view(View::Mpi);
          app->set_mpi_mode(1);
          app->start_training(std::stoi(a.args[0]));
          if (v == "start-train") { // e.g. quitting while the job runs
            render_frame();
            continue;
          }
        } else if (v == "pretrain" || v == "start-pretrain") {
          app->start_pretraining(std::stoi(a.args[0]));
          if (v == "start-pretrain") {
            render_frame();
            continue;
          }
        } else if (v == "browse") {
          app->browse(a.args[0]);
        } else if (v == "browse-hub") {
          app->browser().open_hub();
        } else if (v == "browse-hidden") {
          app->browser().set_show_hidden(a.args[0] == "on");
        } else if (v == "browse-open") {
          app->browser().activate(a.args[0]);
        } else if (v == "key") {
          const std::string& k = a.args[0];
          const bool ctrl = k.rfind("ctrl+", 0) == 0;
          const int code = k == "space"    ? GLFW_KEY_SPACE
                           : k == "right"  ? GLFW_KEY_RIGHT
                           : k == "left"   ? GLFW_KEY_LEFT
                           : k == "home"   ? GLFW_KEY_HOME
                           : k == "end"    ? GLFW_KEY_END
                           : k == "ctrl+o" ? GLFW_KEY_O
                           : k == "ctrl+e" ? GLFW_KEY_E
                                           : GLFW_KEY_Q;
          app->key(code, ctrl, true);
          render_frame(); // the frame that sees the key go down
          app->key(code, ctrl, false);
          if (app->quit_requested())
            break;
        } else if (v == "drop") {
          app->drop(a.args[0]);
        } else if (v == "follow") {
          app->follow(a.args[0]);
        } else if (v == "wait-steps") {
          // N: until the followed record shows N steps; +N: N more than it shows now.
          const bool relative = a.args[0].starts_with('+');
          const int want = std::stoi(a.args[0].substr(relative ? 1 : 0)) +
                           (relative ? app->followed_steps() : 0);
          const auto start = std::chrono::steady_clock::now();
          while (app->followed_steps() < want) {
            if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
                300)
              throw_internal_error("screenshot script: the followed record did not reach " +
                                   std::to_string(want) + " steps within 300 s (" + app->error() +
                                   ")");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            render_frame();
          }
        } else if (v == "open-series" || v == "start-series") {
          app->open_series(a.args);
          if (v == "start-series") { // e.g. quitting while the job runs
            render_frame();
            continue;
          }
        } else if (v == "wait-checkpoints") {
          const int want = std::stoi(a.args[0]);
          const auto start = std::chrono::steady_clock::now();
          while (app->series().checkpoints() < want) {
            if (!app->series().running() && app->series().checkpoints() < want)
              throw_input_error("the series stopped at " +
                                std::to_string(app->series().checkpoints()) + " checkpoints (" +
                                app->error() + ")");
            if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
                300)
              throw_internal_error("screenshot script: the series did not reach " +
                                   std::to_string(want) + " checkpoints within 300 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            render_frame();
          }
          continue; // the series goes on (settling would wait for its end)
        } else if (v == "series-cursor") {
          app->series().set_cursor(std::stoi(a.args[0]));
        } else if (v == "series-figure") {
          app->series().set_figure(a.args[0]);
        } else if (v == "series-select") {
          app->series().select(std::stoi(a.args[0]), std::stoi(a.args[1]));
        } else if (v == "test-pattern") {
          app->show_test_pattern(a.args[0]);
        } else if (v == "state") {
          write_state(a.args[0]);
        } else if (v == "size") {
          fb_w = std::clamp(std::stoi(a.args[0]), 320, 8192);
          fb_h = std::clamp(std::stoi(a.args[1]), 240, 8192);
          glfwSetWindowSize(window, fb_w, fb_h);
        }
        settle(300);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::BadInput)
          throw;
        script_failure = where + e.what();
        break;
      }
    }
    if (script_failure.empty() && app->export_question())
      script_failure = unanswered();
    for (int i = 0; i < std::max(options.frames, 1); ++i)
      render_frame();
    io::RgbaImage image;
    image.width = target.width();
    image.height = target.height();
    image.pixels = target.read_rgba();
    io::write_png(options.screenshot, image);
  }
  if (!options.state_json.empty())
    write_state(options.state_json);
  if (options.frame_stats) {
    auto report = [](const char* what, const std::vector<double>& v) {
      std::printf("%s: %zu frames, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what, v.size(),
                  percentile(v, 0.5), percentile(v, 0.99),
                  v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
    };
    report("frame time, all frames", frame_ms);
    report("frame time while a background job ran", busy_ms);
    report("UI thread build time (no rendering), all frames", ui_ms);
  }
  if (!options.settings_file.empty()) { // what this session ends with, for the next one
    GuiSettings out = saved;
    out.theme = std::string(name_of(kThemeNames, app->theme()));
    out.width = fb_w;
    out.height = fb_h;
    if (!offscreen) {
      int w = 0, h = 0, x = 0, y = 0;
      glfwGetWindowSize(window, &w, &h);
      glfwGetWindowPos(window, &x, &y);
      if (w >= 320 && h >= 240) {
        out.width = w;
        out.height = h;
      }
      out.x = x;
      out.y = y;
    }
    try {
      save_gui_settings(options.settings_file, out);
    } catch (const Error& e) { // not worth failing the session for
      std::fprintf(stderr, "routerscope gui: warning: %s\n", e.what());
    }
  }
  app.reset();
  glfwDestroyWindow(window);
  if (!script_failure.empty())
    throw_input_error(script_failure);
  return 0;
}

} // namespace routerscope::gui
