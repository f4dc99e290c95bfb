#pragma once
// Cairo renderer of the figure model (core/figure.h): PNG at a chosen DPI, SVG and PDF with the
// DejaVu Sans font (PDF embeds it, text stays real text), plus a CSV of the data the figure draws.
// Files are written to a temporary name and renamed (io/atomic_file.h).
#include "core/figure.h"
#include "core/figure_layout.h"

#include <filesystem>
#include <string>

namespace routerscope::io {

struct ExportOptions {
  double dpi = 200;             // PNG only: pixels per inch (1 pt = dpi/72 px)
  double width = 0, height = 0; // pt; 0 = the figure's own size (figure_size)
};

// Renders `figure` to `out`, the format chosen by its extension (.png, .svg, .pdf; case-free).
// Throws BadInput for an unknown extension, bad options or an unwritable path.
void export_figure(const Figure& figure, const std::filesystem::path& out,
                   const ExportOptions& options = {});

// Long-format CSV of every value the figure shows (full resolution, before decimation): one row
// per point with columns panel,panel_title,kind,series,index,x,y,lower,upper,value. Lines fill x,y;
// bands x,lower,upper; bars x (centre),y (height); heatmap cells x,y (cell centre) and value.
// Numbers are printed with 17 significant digits (they read back exactly), NaN as "NaN".
std::string figure_csv(const Figure& figure);
void export_figure_csv(const Figure& figure, const std::filesystem::path& out);

// Text size as Cairo measures it with the export font (for callers that lay out text).
TextExtent measure_text(const std::string& text, const TextStyle& style);

} // namespace routerscope::io
