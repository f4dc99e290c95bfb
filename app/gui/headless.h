#pragma once
// GUI frames driven in-process without a window, GL or a display. ImGui builds each frame —
// layout, widgets, the figure model drawn onto its draw lists — through the same App, and nothing
// is rasterised (GL objects are inert without a context, app/gui/gl.h). Tests drive App's actions
// here and read its state directly, as fast as the UI thread builds frames, and under
// AddressSanitizer with LeakSanitizer on (no GL driver is loaded into the process). What the
// pixels look like is the Xvfb screenshot tests' concern (`gui --screenshot`).
#include "app/gui/app.h"
#include "app/gui/gui.h"

#include <memory>

struct ImGuiContext;
struct ImDrawData;

namespace routerscope::gui {

class HeadlessGui {
public:
  // Creates the ImGui context, the font atlas and the App (options.path is not opened: call
  // app().open). Frames are options.width × options.height pixels at UI scale 1.
  explicit HeadlessGui(const GuiOptions& options);
  ~HeadlessGui(); // the App first (its panels cancel and join their jobs), then the context
  HeadlessGui(const HeadlessGui&) = delete;
  HeadlessGui& operator=(const HeadlessGui&) = delete;

  App& app() { return *app_; }
  void frame(); // one UI frame
  // Frames until no background job runs; throws Internal after timeout_s seconds.
  void settle(double timeout_s = 300);
  // A key pressed in one frame and released in the next (GLFW key code, as `gui --script` keys).
  void press(int glfw_key, bool ctrl = false);
  // The last frame's draw data: what a renderer would draw.
  const ImDrawData& draw_data() const;

private:
  ImGuiContext* context_ = nullptr;
  std::unique_ptr<App> app_;
  int width_, height_;
};

} // namespace routerscope::gui
