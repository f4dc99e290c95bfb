#pragma once
// The layers x experts heatmap: a scalar texture (one texel per cell) coloured on the GPU by the
// GLSL program from shaders/heatmap.{vert,frag} through a 256-entry colormap LUT texture, rendered
// into a colour texture that ImGui then draws as an image.
#include "app/gui/gl.h"

#include <array>
#include <cstdint>
#include <vector>

namespace routerscope::gui {

// 256 RGBA8 entries of the perceptually uniform "viridis" map, low to high.
std::vector<std::uint8_t> viridis_lut();
// The LUT colour for t in [0, 1] as 0xAABBGGRR (ImGui's ImU32 layout).
std::uint32_t viridis_color(double t);

class HeatmapRenderer {
public:
  // With a current GL 3.3 context (throws Internal when the shader fails); without one (headless
  // frames) it is inert and render() returns 0.
  HeatmapRenderer();
  ~HeatmapRenderer();
  HeatmapRenderer(const HeatmapRenderer&) = delete;
  HeatmapRenderer& operator=(const HeatmapRenderer&) = delete;
  // values: rows x cols, row-major (row = layer, col = expert), NaN for missing cells.
  void set_values(int rows, int cols, const std::vector<float>& values);
  // Renders the coloured image at width x height pixels; returns the texture to draw (GLuint).
  unsigned render(int width, int height, float vmin, float vmax, bool grid);

private:
  Program program_;
  Texture values_, lut_;
  Framebuffer target_;
  GLuint vao_ = 0, vbo_ = 0;
  int rows_ = 0, cols_ = 0;
  bool dirty_ = true;
  std::array<float, 5> last_{}; // width, height, vmin, vmax, grid of the last render
};

} // namespace routerscope::gui
