// Cairo export of the figure model: PNG size follows DPI, SVG parses with one path per series,
// PDF holds real text with an embedded font and renders with poppler, CSV reads back exactly.
// RendersEveryBuilderFigure draws every builder's figure from a small MPI simulation; set
// ROUTERSCOPE_FIGURE_OUT=DIR to keep the files for viewing.
#include "core/error.h"
#include "core/figure.h"
#include "core/figure_builders.h"
#include "io/figure_export.h"
#include "tests/support/test_support.h"

#include <cairo.h>
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

// fontconfig keeps a pattern cache for the life of the process (not ours to free); LeakSanitizer
// reads this hook in sanitizer builds and ignores it elsewhere.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libfontconfig.so\n";
}

namespace routerscope {
namespace {

namespace fs = std::filesystem;

// Cairo and fontconfig keep process-wide font caches; release them at exit so LeakSanitizer
// (CI runs the suites under ASan) reports only real leaks.
class CairoCacheReset : public ::testing::Environment {
public:
  void TearDown() override { cairo_debug_reset_static_data(); }
};
const auto* const kCairoCacheReset = ::testing::AddGlobalTestEnvironment(new CairoCacheReset);

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian).
std::array<std::uint32_t, 2> png_size(const fs::path& p) {
  const std::string b = read_file(p);
  EXPECT_GE(b.size(), 24u);
  EXPECT_EQ(b.substr(1, 3), "PNG");
  EXPECT_EQ(b.substr(12, 4), "IHDR");
  auto be = [&](std::size_t o) {
    return (std::uint32_t(std::uint8_t(b[o])) << 24) |
           (std::uint32_t(std::uint8_t(b[o + 1])) << 16) |
           (std::uint32_t(std::uint8_t(b[o + 2])) << 8) | std::uint32_t(std::uint8_t(b[o + 3]));
  };
  return {be(16), be(20)};
}

// Runs a shell command, returning stdout and the exit code.
std::pair<std::string, int> shell(const std::string& cmd) {
  const test::CommandResult r = test::run_shell(cmd);
  return {r.out, r.exit_code};
}

std::string q(const fs::path& p) {
  return "'" + p.string() + "'";
}

Figure three_series_figure() {
  Figure f;
  f.title = "Alignment check";
  Panel p;
  p.x.label = "MPI step";
  p.y.label = "|cos|";
  const char* names[] = {"vanilla router", "MPI router", "MPI no retract"};
  for (int s = 0; s < 3; ++s) {
    LineSeries l;
    l.name = names[s];
    for (int i = 0; i < 200; ++i) {
      l.x.push_back(i);
      l.y.push_back(i == 100 ? NAN : 0.3 + 0.2 * s + 0.1 * std::sin(0.05 * i * (s + 1)));
    }
    if (s == 2) {
      l.dash = Dash::Dashed;
    }
    p.lines.push_back(l);
  }
  f.panels.push_back(p);
  return f;
}

TEST(FigureExport, PngPixelSizeFollowsDpi) {
  test::TempDir dir("fig");
  const Figure f = three_series_figure();
  const auto [w, h] = figure_size(f);
  for (double dpi : {72.0, 150.0, 200.0, 300.0}) {
    const fs::path out = dir / ("f" + std::to_string(int(dpi)) + ".png");
    io::export_figure(f, out, {.dpi = dpi});
    const auto size = png_size(out);
    EXPECT_EQ(size[0], std::lround(w * dpi / 72.0)) << dpi;
    EXPECT_EQ(size[1], std::lround(h * dpi / 72.0)) << dpi;
  }
  // Default 200 dpi, single column 3.5 in -> 700 px wide.
  io::export_figure(f, dir / "default.png");
  EXPECT_EQ(png_size(dir / "default.png")[0], 700u);
}

TEST(FigureExport, SvgParsesWithOnePathPerSeries) {
  test::TempDir dir("fig");
  const Figure f = three_series_figure();
  const fs::path svg = dir / "f.svg";
  io::export_figure(f, svg);
  // Python's XML parser is the oracle for well-formedness; it lists stroked paths by colour.
  const fs::path script = dir / "count.py";
  std::ofstream(script) << R"(import sys, re, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
print('size', root.get('width'), root.get('height'))
uses = sum(1 for _ in root.iter(ns + 'use'))
print('uses', uses)
for p in root.iter(ns + 'path'):
    st = p.get('style') or ''
    m = re.search(r'stroke:rgb\(([\d.]+)%,([\d.]+)%,([\d.]+)%\)', st)
    if m and 'fill:none' in st:
        print('stroke', *[round(float(v) * 2.55) for v in m.groups()])
)";
  const auto [out, rc] = shell("/usr/bin/python3 " + q(script) + " " + q(svg));
  ASSERT_EQ(rc, 0) << "SVG did not parse";
  std::istringstream lines(out);
  std::string kind;
  std::map<std::array<long, 3>, int> strokes;
  int uses = 0;
  std::string width, height;
  while (lines >> kind) {
    if (kind == "size") {
      lines >> width >> height;
    } else if (kind == "uses") {
      lines >> uses;
    } else {
      std::array<long, 3> c{};
      lines >> c[0] >> c[1] >> c[2];
      ++strokes[c];
    }
  }
  const auto [w, h] = figure_size(f);
  EXPECT_EQ(std::stod(width.substr(0, width.size() - 2)), w);
  EXPECT_EQ(width.substr(width.size() - 2), "pt");
  EXPECT_EQ(std::stod(height.substr(0, height.size() - 2)), h);
  for (int s = 0; s < 3; ++s) {
    const Color c = categorical_color(s);
    const std::array<long, 3> key{std::lround(c.r * 255), std::lround(c.g * 255),
                                  std::lround(c.b * 255)};
    // One path for the series (its NaN gap is a second sub-path, not a second path) plus the
    // legend swatch.
    EXPECT_EQ(strokes[key], 2) << "series " << s;
  }
  const Color axis = f.style.axis_color;
  EXPECT_GE(
      (strokes[{std::lround(axis.r * 255), std::lround(axis.g * 255), std::lround(axis.b * 255)}]),
      2)
      << "axis spines and ticks";
  // Cairo writes text as glyph references: title, labels, ticks and legend need well over 40.
  EXPECT_GT(uses, 40);
}

TEST(FigureExport, PdfHasRealEmbeddedTextAndRenders) {
  test::TempDir dir("fig");
  const Figure f = three_series_figure();
  const fs::path pdf = dir / "f.pdf";
  io::export_figure(f, pdf);
  const auto [text, rc] = shell("pdftotext " + q(pdf) + " -");
  ASSERT_EQ(rc, 0);
  for (const char* s :
       {"Alignment check", "vanilla router", "MPI router", "MPI no retract", "MPI step", "|cos|"}) {
    EXPECT_NE(text.find(s), std::string::npos) << s << " missing from:\n" << text;
  }
  const auto [fonts, frc] = shell("pdffonts " + q(pdf));
  ASSERT_EQ(frc, 0);
  EXPECT_NE(fonts.find("DejaVuSans"), std::string::npos) << fonts;
  // Columns end with "emb sub uni object ID": every font row must say emb = yes.
  std::istringstream rows(fonts);
  std::string line;
  int font_rows = 0;
  while (std::getline(rows, line)) {
    std::vector<std::string> tok;
    std::istringstream ls(line);
    for (std::string w; ls >> w;) {
      tok.push_back(w);
    }
    if (tok.size() < 6 || line.rfind("name", 0) == 0 || line.rfind("---", 0) == 0) {
      continue;
    }
    ++font_rows;
    EXPECT_EQ(tok[tok.size() - 5], "yes") << "font not embedded: " << line;
  }
  EXPECT_GE(font_rows, 1);
  const auto [ppm, prc] =
      shell("pdftoppm -r 72 -png -singlefile " + q(pdf) + " " + q(dir / "page"));
  ASSERT_EQ(prc, 0);
  const auto size = png_size(dir / "page.png");
  const auto [w, h] = figure_size(f);
  EXPECT_NEAR(size[0], w, 1.0);
  EXPECT_NEAR(size[1], h, 1.0);
}

// Minimal CSV reader with quoted fields (the oracle for our writer's quoting).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) {
    rows.pop_back();
  }
  return rows;
}

TEST(FigureExport, CsvValuesEqualTheInputData) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd;
  Figure f;
  Panel p;
  LineSeries l;
  l.name = "loss, \"MPI\"";
  for (int i = 0; i < 50; ++i) {
    l.x.push_back(i * 0.1);
    l.y.push_back(nd(rng) * 1e-7);
  }
  l.y[3] = NAN;
  p.lines.push_back(l);
  Band b{"band", l.x, {}, {}, std::nullopt, 0, 0.2, true};
  for (int i = 0; i < 50; ++i) {
    b.lower.push_back(nd(rng));
    b.upper.push_back(b.lower.back() + 1.0 / 3.0);
  }
  p.bands.push_back(b);
  BarSeries bars;
  bars.name = "bars";
  bars.x = {1, 2, 3};
  bars.height = {0.1, 0.2, 0.30000000000000004};
  p.bars.push_back(bars);
  f.panels.push_back(p);
  Panel hp;
  Heatmap h;
  h.name = "heat";
  h.rows = 3;
  h.cols = 4;
  for (int i = 0; i < 12; ++i) {
    h.values.push_back(nd(rng));
  }
  hp.heatmap = h;
  f.panels.push_back(hp);

  test::TempDir dir("fig");
  io::export_figure_csv(f, dir / "f.csv");
  const auto rows = parse_csv(read_file(dir / "f.csv"));
  ASSERT_EQ(rows.size(), 1u + 50 + 50 + 3 + 12);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"panel", "panel_title", "kind", "series", "index",
                                               "x", "y", "lower", "upper", "value"}));
  auto d = [](const std::string& s) { return s == "NaN" ? NAN : std::strtod(s.c_str(), nullptr); };
  auto same = [](double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; };
  std::size_t r = 1;
  for (int i = 0; i < 50; ++i, ++r) {
    ASSERT_EQ(rows[r].size(), 10u);
    EXPECT_EQ(rows[r][2], "line");
    EXPECT_EQ(rows[r][3], l.name);
    EXPECT_TRUE(same(d(rows[r][5]), l.x[i]));
    EXPECT_TRUE(same(d(rows[r][6]), l.y[i])) << rows[r][6] << " vs " << l.y[i];
  }
  for (int i = 0; i < 50; ++i, ++r) {
    EXPECT_EQ(rows[r][2], "band");
    EXPECT_EQ(d(rows[r][7]), b.lower[i]);
    EXPECT_EQ(d(rows[r][8]), b.upper[i]);
  }
  for (int i = 0; i < 3; ++i, ++r) {
    EXPECT_EQ(rows[r][2], "bar");
    EXPECT_EQ(d(rows[r][5]), bars.x[i]);
    EXPECT_EQ(d(rows[r][6]), bars.height[i]);
  }
  for (int i = 0; i < 12; ++i, ++r) {
    EXPECT_EQ(rows[r][0], "1");
    EXPECT_EQ(rows[r][2], "heatmap");
    EXPECT_EQ(d(rows[r][9]), h.values[i]);
    EXPECT_EQ(d(rows[r][5]), -0.5 + (i % 4) + 0.5); // cell centre column
    EXPECT_EQ(d(rows[r][6]), -0.5 + (i / 4) + 0.5); // cell centre row
  }
}

TEST(FigureExport, RejectsUnknownExtensionAndBadDpiWithoutWriting) {
  test::TempDir dir("fig");
  const Figure f = three_series_figure();
  try {
    io::export_figure(f, dir / "f.jpg");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("f.jpg"), std::string::npos);
  }
  EXPECT_THROW(io::export_figure(f, dir / "f.png", {.dpi = 0}), Error);
  EXPECT_TRUE(fs::is_empty(dir.path())) << "no file or temporary may be left behind";
}

TEST(FigureExport, ReplacesAnExistingFileWhole) {
  test::TempDir dir("fig");
  const fs::path out = dir / "f.svg";
  std::ofstream(out) << "old";
  io::export_figure(three_series_figure(), out);
  const std::string s = read_file(out);
  EXPECT_EQ(s.find("old"), std::string::npos);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
}

// ---- realistic data: a small MPI simulation on planted expert matrices ----

struct Sim {
  ConvergenceData conv;
  AlignmentGrid grid;
  SpectrumData spectrum;
};

Sim simulate_mpi(int layers, int experts, int steps) {
  Sim sim;
  const int d = 24, D = 48;
  for (int t = 0; t <= steps; ++t) {
    sim.conv.steps.push_back(t);
  }
  sim.grid.experts = experts;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> ratio(0.55, 0.93);
  for (int L = 0; L < layers; ++L) {
    ConvergencePanel lc;
    lc.layer = L + 1;
    lc.highlight = {0, 5};
    std::vector<double> bound(sim.conv.steps.size(), 0.0);
    sim.grid.layers.push_back(L + 1);
    for (int e = 0; e < experts; ++e) {
      const double rho = ratio(rng);
      const auto planted =
          test::planted_matrix(d, D, test::gapped_spectrum(d, rho, 0.9), 1000 * L + e + 1);
      const Eigen::MatrixXd g = planted.g.cast<double>();
      // u₁ of the float-rounded matrix itself, so tan θ is not floored by the rounding
      Eigen::JacobiSVD<Eigen::MatrixXd> svd(g, Eigen::ComputeThinV);
      const Eigen::VectorXd v1 = svd.matrixV().col(0);
      Eigen::VectorXd r =
          test::random_matrix(1, D, 77 * L + e, 1.0f).row(0).transpose().cast<double>();
      std::vector<double> tan_theta;
      double cos_at_2 = 0;
      for (int t = 0; t <= steps; ++t) {
        const double c = std::abs(r.normalized().dot(v1));
        tan_theta.push_back(std::sqrt(std::max(0.0, 1 - c * c)) / c);
        if (t == 2) {
          cos_at_2 = c;
        }
        r = g.transpose() * (g * r);
        r.normalize();
      }
      for (std::size_t t = 0; t < bound.size(); ++t) {
        bound[t] = std::max(bound[t], std::pow(rho, 2.0 * t) * tan_theta[0]);
      }
      lc.per_expert.push_back(tan_theta);
      sim.grid.values.push_back(cos_at_2);
      if (L == 0) {
        std::vector<double> sig = test::gapped_spectrum(d, rho, 0.9);
        sim.spectrum.sigma.push_back(sig);
      }
    }
    lc.bound = bound;
    sim.conv.layers.push_back(lc);
  }
  sim.spectrum.layer = 1;
  sim.spectrum.highlight = {0, 5};
  return sim;
}

std::vector<std::pair<std::string, Figure>> builder_figures() {
  std::vector<std::pair<std::string, Figure>> out;
  Sim sim = simulate_mpi(6, 16, 25);
  sim.grid.quantity = "|cos(Rᵢ, u₁)|";
  out.emplace_back("a_alignment_heatmap", alignment_heatmap(sim.grid));
  // A DeepSeek-sized grid: 26 MoE layers (1..26) × 64 experts, λ values on a full-page figure.
  AlignmentGrid big;
  big.quantity = "λ";
  big.experts = 64;
  std::mt19937_64 grng(8);
  std::normal_distribution<double> gn;
  for (int L = 1; L <= 26; ++L) {
    big.layers.push_back(L);
    for (int e = 0; e < 64; ++e) {
      big.values.push_back(std::clamp(0.45 + 0.015 * L + 0.08 * gn(grng), 0.0, 1.0));
    }
  }
  out.emplace_back("a2_alignment_heatmap_large", alignment_heatmap(big, kDoubleColumnWidth));
  ConvergenceData conv = sim.conv;
  conv.layers.resize(4);
  out.emplace_back("b_mpi_convergence", mpi_convergence_figure(conv));

  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd;
  std::vector<Curve> norms;
  for (int L = 0; L < 6; ++L) {
    Curve c;
    c.name = "layer " + std::to_string(L + 1);
    for (int t = 0; t <= 400; t += 2) {
      c.x.push_back(t);
      c.y.push_back(1.0 + 0.15 * L + (0.4 + 0.1 * L) * std::log1p(t / 60.0) + 0.01 * nd(rng));
    }
    norms.push_back(c);
  }
  out.emplace_back("c_router_norm", router_norm_figure(norms));

  std::vector<LoadHistory> loads;
  for (int L = 0; L < 2; ++L) {
    LoadHistory h;
    h.layer = L + 1;
    const int experts = 16, steps = 120;
    std::vector<double> bias(experts);
    for (auto& b : bias) {
      b = 0.8 * nd(rng);
    }
    h.load.assign(experts, {});
    double global = 0;
    for (int t = 0; t < steps; ++t) {
      h.steps.push_back(10.0 * t);
      std::vector<double> logits(experts);
      double z = 0;
      for (int e = 0; e < experts; ++e) {
        // balancing pulls the biases towards zero as training goes on
        logits[e] = bias[e] * std::exp(-t / (40.0 + 40 * L)) + 0.15 * nd(rng);
        z += std::exp(logits[e]);
      }
      double mx = 0;
      for (int e = 0; e < experts; ++e) {
        const double share = std::exp(logits[e]) / z;
        h.load[e].push_back(share);
        mx = std::max(mx, share);
      }
      const double vio = mx * experts - 1;
      h.maxvio_batch.push_back(vio);
      global = t == 0 ? vio : 0.9 * global + 0.1 * vio;
      h.maxvio_global.push_back(global * 0.8);
    }
    loads.push_back(h);
  }
  out.emplace_back("d_load_distribution", load_distribution_figure(loads));
  out.emplace_back("e_spectrum", spectrum_figure(sim.spectrum));

  std::vector<TrainingRun> runs;
  const char* names[] = {"vanilla", "MPI", "MPI, no retraction"};
  for (int r = 0; r < 3; ++r) {
    TrainingRun run;
    run.name = names[r];
    for (int t = 0; t <= 600; t += 3) {
      run.steps.push_back(t);
      const double s = t / 600.0;
      run.loss.push_back(2.2 + 1.8 * std::exp(-6 * s) - 0.08 * r * s + 0.03 * nd(rng));
      run.lb_loss.push_back(1.0 + (0.25 - 0.08 * r) * std::exp(-3 * s) + 0.01 * nd(rng));
      run.maxvio.push_back(
          std::max(0.0, (1.6 - 0.4 * r) * std::exp(-(2 + r) * s) + 0.2 + 0.05 * nd(rng)));
      run.lambda.push_back(r == 0 ? 0.41 + 0.05 * s + 0.01 * nd(rng)
                                  : 0.41 + (0.55 - 0.1 * (r - 1)) * (1 - std::exp(-12 * s)) +
                                        0.005 * nd(rng));
    }
    runs.push_back(run);
  }
  out.emplace_back("f_training_comparison", training_comparison_figure(runs));
  return out;
}

TEST(FigureExport, RendersEveryBuilderFigure) {
  test::TempDir tmp("figs");
  const char* keep = std::getenv("ROUTERSCOPE_FIGURE_OUT");
  const fs::path dir = keep ? fs::path(keep) : tmp.path();
  fs::create_directories(dir);
  for (const auto& [name, fig] : builder_figures()) {
    SCOPED_TRACE(name);
    const fs::path png = dir / (name + ".png"), pdf = dir / (name + ".pdf"),
                   svg = dir / (name + ".svg");
    io::export_figure(fig, png);
    io::export_figure(fig, pdf);
    io::export_figure(fig, svg);
    io::export_figure_csv(fig, dir / (name + ".csv"));
    const auto [w, h] = figure_size(fig);
    const auto size = png_size(png);
    EXPECT_EQ(size[0], std::lround(w * 200 / 72.0));
    EXPECT_EQ(size[1], std::lround(h * 200 / 72.0));
    // The title is real text in the PDF.
    const auto [text, rc] = shell("pdftotext " + q(pdf) + " -");
    EXPECT_EQ(rc, 0);
    EXPECT_NE(text.find(fig.title), std::string::npos) << text;
    // Ink: the rendered page is neither blank nor flooded (decoded by Cairo, not by our writer).
    cairo_surface_t* img = cairo_image_surface_create_from_png(png.c_str());
    ASSERT_EQ(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    const int iw = cairo_image_surface_get_width(img), ih = cairo_image_surface_get_height(img);
    const int stride = cairo_image_surface_get_stride(img);
    const unsigned char* data = cairo_image_surface_get_data(img);
    long ink = 0;
    for (int y = 0; y < ih; ++y) {
      const auto* row = reinterpret_cast<const std::uint32_t*>(data + y * stride);
      for (int x = 0; x < iw; ++x) {
        ink += (row[x] & 0xffffff) != 0xffffff;
      }
    }
    cairo_surface_destroy(img);
    const double frac = double(ink) / (double(iw) * ih);
    EXPECT_GT(frac, 0.02);
    EXPECT_LT(frac, 0.9);
    const auto [ppm, prc] =
        shell("pdftoppm -r 100 -png -singlefile " + q(pdf) + " " + q(dir / (name + "_pdf")));
    EXPECT_EQ(prc, 0);
    EXPECT_TRUE(fs::exists(dir / (name + "_pdf.png")));
  }
}

} // namespace
} // namespace routerscope
