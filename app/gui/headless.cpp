#include "app/gui/headless.h"

#include "app/gui/fonts.h"
#include "core/error.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h> // key codes only: GLFW is not started
#include <imgui.h>

#include <chrono>
#include <thread>

namespace routerscope::gui {

HeadlessGui::HeadlessGui(const GuiOptions& options)
    : width_(options.width), height_(options.height) {
  IMGUI_CHECKVERSION();
  context_ = ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr; // nothing of the user's layout is read or written
  io.BackendPlatformName = "routerscope-headless";
  // The key map the GLFW backend sets: ImGui's named keys are GLFW key codes.
  io.KeyMap[ImGuiKey_Tab] = GLFW_KEY_TAB;
  io.KeyMap[ImGuiKey_LeftArrow] = GLFW_KEY_LEFT;
  io.KeyMap[ImGuiKey_RightArrow] = GLFW_KEY_RIGHT;
  io.KeyMap[ImGuiKey_UpArrow] = GLFW_KEY_UP;
  io.KeyMap[ImGuiKey_DownArrow] = GLFW_KEY_DOWN;
  io.KeyMap[ImGuiKey_Home] = GLFW_KEY_HOME;
  io.KeyMap[ImGuiKey_End] = GLFW_KEY_END;
  io.KeyMap[ImGuiKey_Enter] = GLFW_KEY_ENTER;
  io.KeyMap[ImGuiKey_Escape] = GLFW_KEY_ESCAPE;
  io.KeyMap[ImGuiKey_Space] = GLFW_KEY_SPACE;
  load_fonts(io, 1.0f);
  unsigned char* pixels = nullptr;
  int w = 0, h = 0;
  io.Fonts->GetTexDataAsAlpha8(&pixels, &w, &h); // builds the atlas (no texture is made)
  GuiOptions o = options;
  o.ui_scale = 1.0f;
  app_ = std::make_unique<App>(nullptr, o);
}

HeadlessGui::~HeadlessGui() {
  app_.reset();
  ImGui::DestroyContext(context_);
}

void HeadlessGui::frame() {
  ImGuiIO& io = ImGui::GetIO();
  io.DisplaySize = ImVec2(float(width_), float(height_));
  io.DisplayFramebufferScale = ImVec2(1, 1);
  io.DeltaTime = 1.0f / 60.0f;
  io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  app_->frame();
}

void HeadlessGui::settle(double timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  frame();
  while (app_->jobs_running()) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_s)
      throw_internal_error("headless GUI: a background job did not finish within " +
                           std::to_string(int(timeout_s)) + " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    frame();
  }
  frame();
}

void HeadlessGui::press(int glfw_key, bool ctrl) {
  app_->key(glfw_key, ctrl, true);
  frame();
  app_->key(glfw_key, ctrl, false);
  frame();
}

const ImDrawData& HeadlessGui::draw_data() const {
  const ImDrawData* d = ImGui::GetDrawData();
  if (!d)
    throw_internal_error("headless GUI: no frame has been drawn");
  return *d;
}

} // namespace routerscope::gui
