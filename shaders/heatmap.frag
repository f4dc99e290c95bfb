#version 330 core
// Maps a scalar texture (one texel per cell, R32F) through a 1-D colormap LUT (RGBA8, 256 wide).
// Values outside [u_min, u_max] clamp; NaN cells (missing or degenerate experts) get u_nan_color.
uniform sampler2D u_values;
uniform sampler2D u_lut;
uniform float u_min;
uniform float u_max;
uniform vec4 u_nan_color;
uniform vec2 u_cells;      // columns, rows
uniform float u_grid;      // grid line width in cells (0 = none)
uniform vec4 u_grid_color;
in vec2 v_uv;
out vec4 frag_color;
void main() {
  float v = texture(u_values, v_uv).r;
  if (isnan(v)) {
    frag_color = u_nan_color;
  } else {
    float t = clamp((v - u_min) / max(u_max - u_min, 1e-12), 0.0, 1.0);
    frag_color = texture(u_lut, vec2(t * (255.0 / 256.0) + 0.5 / 256.0, 0.5));
  }
  vec2 cell = fract(v_uv * u_cells);
  vec2 edge = min(cell, 1.0 - cell);
  if (u_grid > 0.0 && min(edge.x, edge.y) < u_grid)
    frag_color = mix(frag_color, u_grid_color, u_grid_color.a);
}
