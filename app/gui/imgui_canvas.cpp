#include "app/gui/imgui_canvas.h"

#include <algorithm>
#include <cmath>

namespace routerscope::gui {

namespace {

ImU32 to_u32(const Color& c) {
  auto b = [](double v) { return int(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
  return IM_COL32(b(c.r), b(c.g), b(c.b), b(c.a));
}

double cross(ImVec2 a, ImVec2 b, ImVec2 c) {
  return double(b.x - a.x) * (c.y - a.y) - double(b.y - a.y) * (c.x - a.x);
}

bool inside_triangle(ImVec2 p, ImVec2 a, ImVec2 b, ImVec2 c) {
  const double d1 = cross(a, b, p), d2 = cross(b, c, p), d3 = cross(c, a, p);
  const bool neg = d1 < 0 || d2 < 0 || d3<0, pos = d1> 0 || d2 > 0 || d3 > 0;
  return !(neg && pos);
}

// A solid polyline in pixels. ImGui (1.86) joins the segments of AddPolyline with one averaged
// normal per vertex: where the line turns back on itself, as a steep zig-zag of noisy data does
// at every sample, the two normals nearly cancel, the line's width at that vertex collapses to
// nothing and the segments on both sides thin to slivers, which reads as dashes and gaps. So the
// line is cut at every vertex that turns by more than 90° (each piece is drawn with its own square
// ends) and an opaque line gets a disc of its width over the cut, as a round join.
void solid_polyline(ImDrawList* dl, std::vector<ImVec2> pts, ImU32 color, float width) {
  // Repeated points have no direction (a zero normal, the same collapse); keep one of each.
  pts.erase(std::unique(pts.begin(), pts.end(),
                        [](ImVec2 a, ImVec2 b) {
                          return std::abs(a.x - b.x) < 1e-3f && std::abs(a.y - b.y) < 1e-3f;
                        }),
            pts.end());
  const bool opaque = ((color >> IM_COL32_A_SHIFT) & 0xFF) == 0xFF;
  std::size_t start = 0;
  for (std::size_t i = 1; i + 1 < pts.size(); ++i) {
    const ImVec2 a = pts[i - 1], b = pts[i], c = pts[i + 1];
    if ((b.x - a.x) * (c.x - b.x) + (b.y - a.y) * (c.y - b.y) >= 0)
      continue;
    dl->AddPolyline(pts.data() + start, int(i - start + 1), color, 0, width);
    if (opaque && width > 1.5f)
      dl->AddCircleFilled(b, width * 0.5f, color, 12);
    start = i;
  }
  if (pts.size() - start >= 2)
    dl->AddPolyline(pts.data() + start, int(pts.size() - start), color, 0, width);
}

} // namespace

Texture& TexturePool::next() {
  if (used_ == textures_.size())
    textures_.push_back(std::make_unique<Texture>());
  return *textures_[used_++];
}

void fill_polygon(ImDrawList* dl, const std::vector<ImVec2>& points, ImU32 color) {
  const int n = int(points.size());
  if (n < 3)
    return;
  double area = 0;
  for (int i = 0; i < n; ++i)
    area += cross(ImVec2(0, 0), points[i], points[(i + 1) % n]);
  std::vector<int> idx(n);
  for (int i = 0; i < n; ++i)
    idx[i] = area >= 0 ? i : n - 1 - i; // counter-clockwise in the cross() sense
  // Ear clipping, O(n²); a step without an ear (degenerate input) drops a vertex instead.
  while (idx.size() > 3) {
    const int m = int(idx.size());
    bool clipped = false;
    for (int i = 0; i < m && !clipped; ++i) {
      const ImVec2 a = points[idx[(i + m - 1) % m]], b = points[idx[i]],
                   c = points[idx[(i + 1) % m]];
      if (cross(a, b, c) <= 0)
        continue;
      bool ear = true;
      for (int j = 0; j < m && ear; ++j) {
        const int v = idx[j];
        if (v == idx[(i + m - 1) % m] || v == idx[i] || v == idx[(i + 1) % m])
          continue;
        ear = !inside_triangle(points[v], a, b, c);
      }
      if (ear) {
        dl->AddTriangleFilled(a, b, c, color);
        idx.erase(idx.begin() + i);
        clipped = true;
      }
    }
    if (!clipped)
      idx.erase(idx.begin());
  }
  dl->AddTriangleFilled(points[idx[0]], points[idx[1]], points[idx[2]], color);
}

ImGuiCanvas::ImGuiCanvas(ImDrawList* draw_list, ImVec2 origin, double px_per_pt,
                         TexturePool& textures)
    : dl_(draw_list), origin_(origin), k_(px_per_pt), textures_(textures) {}

ImVec2 ImGuiCanvas::to_px(Point p) const {
  return ImVec2(float(origin_.x + p.x * k_), float(origin_.y + p.y * k_));
}

void ImGuiCanvas::stroke(const Path& path, const Stroke& stroke) {
  const ImU32 color = to_u32(stroke.color);
  const float width = float(std::max(1.0, stroke.width * k_));
  for (const auto& run : path) {
    if (run.size() < 2)
      continue;
    std::vector<ImVec2> pts;
    pts.reserve(run.size());
    for (const Point& p : run)
      pts.push_back(to_px(p));
    if (stroke.dashes.empty()) {
      solid_polyline(dl_, std::move(pts), color, width);
      continue;
    }
    // Dashes: walk the polyline, drawing the "on" intervals of the pattern.
    std::size_t dash = 0;
    double left = stroke.dashes[0] * k_;
    bool on = true;
    for (std::size_t i = 1; i < pts.size(); ++i) {
      ImVec2 a = pts[i - 1];
      const ImVec2 b = pts[i];
      double seg = std::hypot(b.x - a.x, b.y - a.y);
      while (seg > 0) {
        const double take = std::min(seg, left);
        const float t = float(take / seg);
        const ImVec2 c(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t);
        if (on)
          dl_->AddLine(a, c, color, width);
        a = c;
        seg -= take;
        left -= take;
        if (left <= 1e-9) {
          dash = (dash + 1) % stroke.dashes.size();
          left = std::max(stroke.dashes[dash] * k_, 0.5);
          on = !on;
        }
      }
    }
  }
}

void ImGuiCanvas::fill(const Path& path, const Color& color) {
  for (const auto& run : path) {
    std::vector<ImVec2> pts;
    for (const Point& p : run)
      pts.push_back(to_px(p));
    fill_polygon(dl_, pts, to_u32(color));
  }
}

void ImGuiCanvas::fill_rect(const Rect& rect, const Color& color) {
  dl_->AddRectFilled(to_px({rect.x, rect.y}), to_px({rect.right(), rect.bottom()}), to_u32(color));
}

void ImGuiCanvas::text(Point origin, const std::string& text, const TextStyle& style,
                       double rotation_deg) {
  ImFont* font = ImGui::GetFont();
  const float size = float(style.size * k_);
  const float ascent = font->Ascent * size / font->FontSize;
  const ImVec2 o = to_px(origin);
  const ImU32 color = to_u32(style.color);
  if (!text.empty()) { // the box: [0, width] × [−ascent, descent] about the origin, rotated
    const TextExtent e = measure(text, style);
    const double a = -rotation_deg * M_PI / 180.0, c = std::cos(a), s = std::sin(a);
    ImRect box(o, o);
    for (const auto& [x, y] : {std::pair{0.0, -e.ascent}, std::pair{e.width, -e.ascent},
                               std::pair{0.0, e.descent}, std::pair{e.width, e.descent}})
      box.Add(ImVec2(float(o.x + (x * c - y * s) * k_), float(o.y + (x * s + y * c) * k_)));
    text_boxes_.push_back({text, box});
  }
  if (rotation_deg == 0) {
    dl_->AddText(font, size, ImVec2(o.x, o.y - ascent), color, text.c_str());
    if (style.bold) // a second pass just over stands in for a bold face
      dl_->AddText(font, size, ImVec2(o.x + 0.6f, o.y - ascent), color, text.c_str());
    return;
  }
  // ImGui culls glyphs against the clip rectangle before we could rotate them, so rotated text is
  // laid out at the screen's top-left under a full-screen clip, then moved and rotated about its
  // baseline origin (counter-clockwise on screen).
  dl_->PushClipRectFullScreen();
  const int first = dl_->VtxBuffer.Size;
  dl_->AddText(font, size, ImVec2(0, 0), color, text.c_str());
  if (style.bold)
    dl_->AddText(font, size, ImVec2(0.6f, 0), color, text.c_str());
  const double a = -rotation_deg * M_PI / 180.0;
  const float c = float(std::cos(a)), s = float(std::sin(a));
  for (int i = first; i < dl_->VtxBuffer.Size; ++i) {
    ImVec2& p = dl_->VtxBuffer[i].pos;
    const float x = p.x, y = p.y - ascent;
    p = ImVec2(o.x + x * c - y * s, o.y + x * s + y * c);
  }
  dl_->PopClipRect();
}

TextExtent ImGuiCanvas::measure(const std::string& text, const TextStyle& style) {
  ImFont* font = ImGui::GetFont();
  const float size = float(style.size * k_);
  const ImVec2 ts = font->CalcTextSizeA(size, FLT_MAX, 0.0f, text.c_str());
  TextExtent e;
  e.width = ts.x / k_;
  e.ascent = font->Ascent * size / font->FontSize / k_;
  e.descent = -font->Descent * size / font->FontSize / k_;
  return e;
}

void ImGuiCanvas::image(const Rect& dst, int w, int h, const std::vector<std::uint8_t>& rgba) {
  if (w <= 0 || h <= 0)
    return;
  Texture& tex = textures_.next();
  tex.upload_rgba(w, h, rgba.data(), false);
  dl_->AddImage(ImTextureID(std::uintptr_t(tex.id())), to_px({dst.x, dst.y}),
                to_px({dst.right(), dst.bottom()}));
}

void ImGuiCanvas::push_clip(const Rect& rect) {
  const ImVec2 a = to_px({rect.x, rect.y}), b = to_px({rect.right(), rect.bottom()});
  clips_.emplace_back(a, b);
  dl_->PushClipRect(a, b, true);
}

void ImGuiCanvas::pop_clip() {
  dl_->PopClipRect();
}

} // namespace routerscope::gui
