// `plot` and `report` end to end: the CSV beside a plot holds the record's own numbers (read
// independently through the HDF5 C API), PNG size follows the DPI, every file index.html links
// exists, and the PDFs render and carry real text.
#include "io/run_record.h"
#include "tests/support/test_support.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <regex>
#include <sstream>

namespace routerscope::test {
namespace {

namespace fs = std::filesystem;

fs::path demo() {
  return fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo";
}

std::pair<int, int> png_size(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), 24);
  auto be = [&](int o) { return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]; };
  return {be(16), be(20)};
}

std::string shell(const std::string& cmd) {
  return run_shell(cmd).out;
}

TEST(PlotCommand, ConvergenceCsvHoldsTheRecordsMeanAngle) {
  TempDir dir("plot");
  auto rec = dir / "conv.h5";
  auto r = run_routerscope(
      {"mpi", demo().string(), "--layers", "2", "--steps", "6", "--record", rec.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto png = dir / "conv.png";
  r = run_routerscope(
      {"plot", rec.string(), "--figure", "convergence", "--out", png.string(), "--dpi", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto [w, h] = png_size(png);
  // Single panel: one paper column (252 pt) wide; 100 dpi -> 350 px.
  EXPECT_EQ(w, static_cast<int>(std::lround(252.0 * 100 / 72)));
  EXPECT_GT(h, 100);

  MatrixD tan = io::read_hdf5_matrix(rec, "layers/2/tan_theta");
  ASSERT_EQ(tan.rows(), 7);
  std::ifstream csv(dir / "conv.csv");
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "panel,panel_title,kind,series,index,x,y,lower,upper,value");
  int checked = 0;
  while (std::getline(csv, line)) {
    if (line.find(",mean over experts,") == std::string::npos)
      continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, ','))
      cells.push_back(c);
    const int t = std::stoi(cells[4]);
    EXPECT_NEAR(std::stod(cells[6]), tan.row(t).mean(), 1e-12 * (1 + tan.row(t).mean()));
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

TEST(PlotCommand, WrongFigureForTheInputIsExitTwoNamingTheChoices) {
  TempDir dir("plot-bad");
  auto rec = dir / "conv.h5";
  ASSERT_EQ(run_routerscope(
                {"mpi", demo().string(), "--layers", "0", "--steps", "2", "--record", rec.string()})
                .exit_code,
            0);
  auto r = run_routerscope(
      {"plot", rec.string(), "--figure", "training", "--out", (dir / "x.png").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("convergence, alignment, lambda"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(rec.string()), std::string::npos) << "names the record file: " << r.err;
  r = run_routerscope({"plot", rec.string(), "--figure", "convergence", "--layer", "3", "--out",
                       (dir / "x.png").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(rec.string() + ": the record has no layer 3 (layers: 0)"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
  r = run_routerscope(
      {"plot", demo().string(), "--figure", "heatmap", "--out", (dir / "x.bmp").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("x.bmp"), std::string::npos) << r.err;
}

TEST(ReportCommand, WritesEveryLinkedFileAndPdfsWithRealText) {
  TempDir dir("report");
  auto out = dir / "rep";
  auto r = run_routerscope({"report", demo().string(), "--out", out.string(), "--steps", "3",
                            "--train-steps", "4", "--pretrain-steps", "4", "--dpi", "72"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(out / "index.html");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string html = ss.str();
  std::regex link("(?:src|href)=\"([^\"]+)\"");
  int links = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), link); it != std::sregex_iterator();
       ++it, ++links)
    EXPECT_TRUE(fs::exists(out / (*it)[1].str())) << (*it)[1].str();
  EXPECT_GE(links, 8 * 4 + 3); // 8 figures x (png, pdf, svg, csv) + 2 records + alignment.csv
  // Training record: every requested variant, every step (read through the HDF5 C API).
  for (std::string v : {"vanilla", "mpi", "no-power"})
    EXPECT_EQ(io::read_hdf5_matrix(out / "training.h5", "variants/" + v + "/loss").rows(), 4) << v;
  if (shell("command -v pdftotext").empty())
    FAIL() << "pdftotext (poppler-utils, a test dependency) is not installed";
  const std::string text =
      shell("pdftotext " + (out / "figures/mpi-convergence.pdf").string() + " - 2>&1");
  EXPECT_NE(text.find("MPI convergence"), std::string::npos) << text;
  EXPECT_NE(text.find("layer 5"), std::string::npos) << text;
  const std::string ppm = shell("pdftoppm -r 50 -png " + (out / "figures/training.pdf").string() +
                                " " + (dir / "page").string() + " 2>&1 && echo ok");
  EXPECT_NE(ppm.find("ok"), std::string::npos) << ppm;
}

} // namespace
} // namespace routerscope::test
