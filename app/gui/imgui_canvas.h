#pragma once
// The figure model's Canvas (core/figure_layout.h) drawn with ImDrawList, so the GUI shows the very
// figure that io/figure_export.h writes. One point maps to `px_per_pt` pixels from `origin`.
#include "app/gui/gl.h"
#include "core/figure_layout.h"

#include <imgui.h>
#include <imgui_internal.h>

#include <memory>
#include <string>
#include <vector>

namespace routerscope::gui {

// Textures for Canvas::image calls, reused from frame to frame (they must outlive the frame's
// rendering, so the pool belongs to the caller, not to the canvas).
class TexturePool {
public:
  Texture& next();
  void begin_frame() { used_ = 0; }

private:
  std::vector<std::unique_ptr<Texture>> textures_;
  std::size_t used_ = 0;
};

class ImGuiCanvas : public Canvas {
public:
  ImGuiCanvas(ImDrawList* draw_list, ImVec2 origin, double px_per_pt, TexturePool& textures);

  void stroke(const Path& path, const Stroke& stroke) override;
  void fill(const Path& path, const Color& color) override;
  void fill_rect(const Rect& rect, const Color& color) override;
  void text(Point origin, const std::string& text, const TextStyle& style,
            double rotation_deg) override;
  TextExtent measure(const std::string& text, const TextStyle& style) override;
  void image(const Rect& dst, int w, int h, const std::vector<std::uint8_t>& rgba) override;
  void push_clip(const Rect& rect) override;
  void pop_clip() override;

  // Every clip rectangle pushed so far, in screen pixels: the layout clips each panel's data area.
  const std::vector<ImRect>& clip_rects() const { return clips_; }
  // Every non-empty text drawn so far and its box in screen pixels, from ImGui's own font metrics
  // (advance width; ascent above and descent below the baseline; rotated text: the box rotated).
  struct TextBox {
    std::string text;
    ImRect box;
  };
  const std::vector<TextBox>& text_boxes() const { return text_boxes_; }

private:
  ImVec2 to_px(Point p) const;
  ImDrawList* dl_;
  ImVec2 origin_;
  double k_;
  TexturePool& textures_;
  std::vector<ImRect> clips_;
  std::vector<TextBox> text_boxes_;
};

// Fills a simple polygon (concave allowed) by ear clipping; `points` in pixels.
void fill_polygon(ImDrawList* dl, const std::vector<ImVec2>& points, ImU32 color);

} // namespace routerscope::gui
