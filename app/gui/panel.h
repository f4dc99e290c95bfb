#pragma once
// What the GUI's panels share. A panel is one view's state, its background job and the snapshot
// that job publishes (one JobSlot, core/jobs.h, so closing the window cancels and joins the job
// before the snapshot dies), its drawing, its figures and its part of the state JSON. App keeps
// the window, menus, shortcuts, dialogs and status bar and routes actions to the panels.
#include "app/gui/imgui_canvas.h"
#include "app/gui/session.h"
#include "core/compute_backend.h"

#include <memory>

namespace routerscope::gui {

// What a panel of the opened model sees of the app when it acts.
struct ModelContext {
  std::shared_ptr<const OpenedModel> model;      // null before a model opens
  int layer = -1, expert = 0;                    // the selected decoder layer and expert
  std::shared_ptr<const ComputeBackend> backend; // where the next job computes
};

// How a panel draws this frame.
struct DrawContext {
  bool dark = true;
  TexturePool& textures; // the figures' textures (begin_frame() once per drawn figure set)
};

} // namespace routerscope::gui
