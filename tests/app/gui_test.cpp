// Smoke tests of `routerscope gui` in screenshot mode under Xvfb (skipped, with the reason, when
// the GUI is not built or xvfb-run is missing). Oracles: the requested image size, the fixture's
// own config.json, the number of steps the script asked for, and files read back independently.
#include "io/checkpoint.h"
#include "io/png_image.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/hub_fixture.h"
#include "tests/support/live_record.h"
#include "tests/support/series_checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

using test::read_text;

std::string quote(const std::string& s) {
  return test::shell_quote(s);
}

class GuiSmoke : public ::testing::Test {
protected:
  void SetUp() override {
    if (std::system("command -v xvfb-run >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "xvfb-run is not installed";
    const auto help = test::run_routerscope({"help", "gui"});
    if (help.exit_code != 0)
      GTEST_SKIP() << "this build has no GUI (configure with -DROUTERSCOPE_GUI=ON)";
  }
  // Runs the GUI in screenshot mode with `script`; returns the exit code. w = 0: no --size.
  int run(const std::string& script, const std::string& path = "", int w = 1024, int h = 700,
          const std::string& options = "") {
    std::ofstream(dir_ / "script.txt") << script;
    // In the sanitizer build the GUI runs under ASan without LeakSanitizer: its exit-time scan
    // stops every thread, and with Mesa's llvmpipe threads about it the scan itself crashed
    // ("Tracer caught signal 11") once in a suite run. Use-after-free and overflows are still
    // reported; the options are ignored by other builds.
    std::string cmd = env_ + " ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\"" +
                      " XDG_CONFIG_HOME=" + quote((dir_ / "config").string()) +
                      " xvfb-run -a -s '-screen 0 1600x1000x24' " +
                      quote(test::routerscope_exe().string()) + " gui ";
    if (!path.empty())
      cmd += quote(path) + " ";
    cmd += options;
    if (w > 0)
      cmd += "--size " + std::to_string(w) + "x" + std::to_string(h) + " ";
    cmd += "--screenshot " + quote(png().string()) + " --frames 2 --script " +
           quote((dir_ / "script.txt").string()) + " --state-json " + quote(state_path().string()) +
           " >" + quote((dir_ / "out.txt").string()) + " 2>&1";
    // xvfb-run exits 5 instead of the program's status when it cannot remove its temporary
    // folder after the program ended (a race on a loaded machine): run again, at most twice.
    for (int attempt = 0;; ++attempt) {
      const int status = std::system(cmd.c_str());
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      if (code != 5 || attempt == 2 ||
          output().find("xvfb-run: error: problem while cleaning up temporary directory") ==
              std::string::npos)
        return code;
    }
  }
  // As run(), opening `record` with --follow.
  int run_follow(const std::string& script, const std::string& record) {
    return run(script, record, 1024, 700, "--follow ");
  }
  fs::path png() const { return dir_ / "shot.png"; }
  fs::path state_path() const { return dir_ / "state.json"; }
  nlohmann::json state() const { return nlohmann::json::parse(read_text(state_path())); }
  std::string output() const { return read_text(dir_ / "out.txt"); }
  // Four planted-SVD checkpoints (tests/support/series_checkpoint.h) in run/ whose routers
  // approach u₁ over the steps, given in shuffled order, and hidden states for their load (the
  // Series view's tests; members of this suite so that the sanitizer build leaves them out).
  void plant_series() {
    const struct {
      const char* name;
      int step;
      double angle, weight;
    } planted[] = {{"checkpoint-300", 300, 0.6, 1.1},
                   {"checkpoint-900", 900, 0.1, 1.3},
                   {"checkpoint-50", 50, 1.0, 1.0},
                   {"checkpoint-600", 600, 0.3, 1.2}};
    for (const auto& p : planted) {
      test::PlantedSeriesSpec spec;
      spec.angle_scale = p.angle;
      spec.weight_scale = p.weight;
      expected_[p.step] =
          test::write_planted_series_checkpoint(dir_ / "run" / p.name, spec).expected;
      paths_.push_back((dir_ / "run" / p.name).string());
    }
    const fs::path oracle = fs::path(ROUTERSCOPE_SOURCE_DIR) / "tests/app/route_oracle.py";
    auto r = test::run_shell("/usr/bin/python3 " + quote(oracle.string()) + " tokens " +
                             quote(tokens_.string()) + " 64 16 5 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  // `routerscope series` of the planted checkpoints into `record` (plus `extra` options).
  void cli_series(const fs::path& record, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"series"};
    a.insert(a.end(), paths_.begin(), paths_.end());
    a.insert(a.end(), {"--record", record.string(), "--no-cache"});
    a.insert(a.end(), extra.begin(), extra.end());
    const auto r = test::run_routerscope(a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  test::TempDir dir_{"gui"};
  std::string env_;                // extra VAR=value assignments for the GUI process
  std::vector<std::string> paths_; // plant_series()
  fs::path tokens_ = dir_ / "tokens.h5";
  std::map<int, std::vector<std::vector<test::PlantedExpertValues>>> expected_;
};

// Distinct colours in the image (a blank frame has one).
std::size_t distinct_colours(const io::RgbaImage& img) {
  std::set<std::uint32_t> colours;
  for (std::size_t i = 0; i + 3 < img.pixels.size(); i += 4)
    colours.insert(std::uint32_t(img.pixels[i]) << 16 | std::uint32_t(img.pixels[i + 1]) << 8 |
                   img.pixels[i + 2]);
  return colours.size();
}

TEST_F(GuiSmoke, DemoOpensAndRendersANonBlankImageOfTheRequestedSize) {
  ASSERT_EQ(run("", "", 1000, 640), 0) << output();
  const io::RgbaImage img = io::read_png(png());
  EXPECT_EQ(img.width, 1000);
  EXPECT_EQ(img.height, 640);
  EXPECT_GT(distinct_colours(img), 50u); // text, heatmap cells and panels
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_TRUE(fs::exists(fs::path(s["opened_path"].get<std::string>()) / "model.safetensors"));
  EXPECT_GT(s["moe_layers"].get<int>(), 0);
}

TEST_F(GuiSmoke, HfTinyFixturesOpenWithTheirConfiguredExpertCount) {
  const fs::path src = test::hf_tiny_dir();
  for (const auto& [name, key] : {std::pair{"mixtral_classic", "num_local_experts"},
                                  std::pair{"deepseek_full", "n_routed_experts"}}) {
    SCOPED_TRACE(name);
    const fs::path folder = dir_ / name;
    fs::create_directories(folder);
    fs::copy_file(src / (std::string(name) + ".safetensors"), folder / "model.safetensors");
    const fs::path config = src / (std::string(name) + "_config.json");
    fs::copy_file(config, folder / "config.json");
    const auto cfg = nlohmann::json::parse(read_text(config));
    ASSERT_EQ(run("select 0 1\nview expert\n", folder.string()), 0) << output();
    const auto s = state();
    EXPECT_EQ(s["error"], "");
    EXPECT_EQ(fs::path(s["opened_path"].get<std::string>()), folder);
    EXPECT_EQ(s["experts"].get<int>(), cfg[key].get<int>());
    EXPECT_EQ(s["selected_expert"].get<int>(), 1);
    EXPECT_EQ(s["view"], "expert");
  }
}

TEST_F(GuiSmoke, MpiStepsAdvanceTheTimelineByTheRequestedCount) {
  ASSERT_EQ(run("view mpi\nselect 0 2\nstep 3\nstep 4\n"), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["steps_recorded"].get<int>(), 1 + 3 + 4); // row 0 is the checkpoint's router
  EXPECT_EQ(s["step_index"].get<int>(), 7);
  // Power iteration can only bring a row closer to u1: λ ≤ 1 and |cos| ≤ 1 (Cauchy–Schwarz).
  EXPECT_LE(s["mean_cos"].get<double>(), 1.0 + 1e-9);
  EXPECT_LE(s["mean_lambda"].get<double>(), 1.0 + 1e-9);
}

TEST_F(GuiSmoke, RouterTrainingRecordsEveryRequestedStep) {
  ASSERT_EQ(run("select 0 0\ntrain 12\n"), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["training_steps"].get<int>(), 12); // steps 0..11, one record row each
}

// Issue 15, finding 1: quitting while training ran published a result into a member already
// destroyed (heap-use-after-free under AddressSanitizer). The app now joins the job first.
TEST_F(GuiSmoke, QuitWhileTrainingJoinsTheJobBeforeTearingDown) {
  ASSERT_EQ(run("select 0 0\nstart-train 1000000\nkey ctrl+q\n"), 0) << output();
  const auto s = state();
  EXPECT_TRUE(s["quit_requested"].get<bool>());
  EXPECT_EQ(s["error"], "");
}

// Issue 15, finding 9: the Expert view of an all-NaN expert drew σⱼ/σ₁ = 1.000 bars and
// projections from an SVD of NaN. It now says "non-finite weights" and shows no spectrum; a finite
// expert of the same checkpoint still gets its 8 singular values, descending.
TEST_F(GuiSmoke, ExpertViewOfANonFiniteExpertShowsNoSpectrum) {
  const fs::path folder = dir_ / "nan";
  test::FamilySpec spec;
  spec.layers = 1;
  spec.replace["model.layers.0.block_sparse_moe.experts.1.w1.weight"] =
      MatrixF::Constant(spec.d_expert, spec.d_model, std::numeric_limits<float>::quiet_NaN());
  test::write_family_checkpoint(folder, spec);
  ASSERT_EQ(run("select 0 1\nview expert\n", folder.string()), 0) << output();
  auto s = state();
  EXPECT_EQ(s["error"], "");
  ASSERT_TRUE(s.contains("expert_detail")) << s.dump();
  EXPECT_EQ(s["expert_detail"]["expert"], 1);
  EXPECT_EQ(s["expert_detail"]["non_finite"], "weights");
  EXPECT_TRUE(s["expert_detail"]["sigma"].empty());
  EXPECT_TRUE(s["expert_detail"]["projection"].empty());
  ASSERT_EQ(run("select 0 2\nview expert\n", folder.string()), 0) << output();
  s = state();
  EXPECT_EQ(s["expert_detail"]["non_finite"], "");
  const auto sigma = s["expert_detail"]["sigma"].get<std::vector<double>>();
  ASSERT_EQ(sigma.size(), 8u);
  EXPECT_TRUE(std::is_sorted(sigma.rbegin(), sigma.rend()));
  EXPECT_GT(sigma.back(), 0.0);
}

TEST_F(GuiSmoke, ExportWritesACsvWithOneRowPerRecordedStep) {
  const fs::path csv = dir_ / "maxvio.csv";
  ASSERT_EQ(run("view mpi\nstep 5\nexport maxvio " + csv.string() + "\n"), 0) << output();
  ASSERT_TRUE(fs::exists(csv)) << output();
  std::ifstream in(csv);
  std::string header, line;
  std::getline(in, header);
  int rows = 0;
  while (std::getline(in, line))
    rows += line.empty() ? 0 : 1;
  EXPECT_FALSE(header.empty());
  EXPECT_EQ(rows, 6); // steps 0..5, one MaxVio value each
  EXPECT_EQ(state()["exports"][0], csv.string());
}

TEST_F(GuiSmoke, ExportWritesAValidPngFigure) {
  const fs::path out = dir_ / "alignment.png";
  ASSERT_EQ(run("export heatmap " + out.string() + "\n"), 0) << output();
  const io::RgbaImage img = io::read_png(out); // throws if not a valid PNG
  EXPECT_GT(img.width, 100);
  EXPECT_GT(distinct_colours(img), 10u);
}

TEST_F(GuiSmoke, SessionSavesAsAnHdf5RecordThatReplaysOnTheTimeline) {
  const fs::path h5 = dir_ / "session.h5";
  ASSERT_EQ(run("view mpi\nselect 2 1\nstep 6\nexport session " + h5.string() + "\n"), 0)
      << output();
  ASSERT_TRUE(fs::exists(h5)) << output();
  const int experts = state()["experts"].get<int>();
  // h5py reads the record independently: 7 rows (steps 0..6) of N experts; load shares sum to 1.
  const std::string py = "import h5py,sys; f=h5py.File(sys.argv[1]); c=f['layers/2/cos']; "
                         "l=f['layers/2/load']; print(c.shape[0], c.shape[1], "
                         "round(float(l[3].sum()), 9))";
  const fs::path out = dir_ / "py.txt";
  const std::string cmd = "/usr/bin/python3 -c " + quote(py) + " " + quote(h5.string()) + " >" +
                          quote(out.string()) + " 2>&1";
  if (std::system(cmd.c_str()) == 0)
    EXPECT_EQ(read_text(out), "7 " + std::to_string(experts) + " 1.0\n");
  else
    ADD_FAILURE() << "h5py could not read the record: " << read_text(out);
  // Opening the record replays it: the timeline holds the recorded steps of layer 2.
  ASSERT_EQ(run("", h5.string()), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["replaying"], h5.string());
  EXPECT_EQ(s["selected_layer"].get<int>(), 2);
  EXPECT_EQ(s["steps_recorded"].get<int>(), 7);
}

TEST_F(GuiSmoke, ConvergenceFigureIsWhatPlotDrawsFromTheSavedSession) {
  const fs::path h5 = dir_ / "session.h5", gui_csv = dir_ / "gui.csv";
  ASSERT_EQ(run("view mpi\nselect 2 1\nstep 6\nexport convergence " + gui_csv.string() +
                "\nexport session " + h5.string() + "\n"),
            0)
      << output();
  ASSERT_TRUE(fs::exists(gui_csv)) << output();
  ASSERT_TRUE(fs::exists(h5)) << output();
  // `plot` draws the named figure from the file; the GUI drew it from its run in memory.
  const fs::path cli_png = dir_ / "cli.png";
  const auto plot = test::run_routerscope(
      {"plot", h5.string(), "--figure", "convergence", "--out", cli_png.string()});
  ASSERT_EQ(plot.exit_code, 0) << plot.err;
  const std::string cli = read_text(dir_ / "cli.csv"), gui = read_text(gui_csv);
  EXPECT_GE(std::count(cli.begin(), cli.end(), '\n'), 7); // a header and steps 0..6
  EXPECT_EQ(gui, cli);
  // The GUI's numbers themselves: `routerscope mpi` steps the same layer with the same settings
  // (C′ 4, k 1, gate) through core's convergence driver; h5py compares the two records' tan θ,
  // bound and pre-retraction norms (NaN at step 0 in both).
  const fs::path ref = dir_ / "ref.h5";
  const auto mpi = test::run_routerscope(
      {"mpi", "--layers", "2", "--steps", "6", "--method", "exact", "--record", ref.string()});
  ASSERT_EQ(mpi.exit_code, 0) << mpi.err;
  const std::string py =
      "import h5py,sys,numpy as np\n"
      "a=h5py.File(sys.argv[1],'r'); b=h5py.File(sys.argv[2],'r')\n"
      "for k in ['tan_theta','tan_bound','pre_norm','cos']:\n"
      "  x=a['layers/2/'+k][:]; y=b['layers/2/'+k][:]\n"
      "  assert x.shape==y.shape==(7,x.shape[1]), (k,x.shape,y.shape)\n"
      "  assert np.array_equal(np.isnan(x),np.isnan(y)), k\n"
      "  m=~np.isnan(x)\n"
      "  assert m.sum()>0, k\n"
      "  assert np.allclose(x[m],y[m],rtol=2e-3,atol=1e-6), (k,np.abs(x[m]-y[m]).max())\n"
      "assert np.isnan(a['layers/2/pre_norm'][0]).all() and not "
      "np.isnan(a['layers/2/pre_norm'][1:]).any()\n"
      "print('ok')\n";
  std::ofstream(dir_ / "cmp.py") << py;
  const fs::path out = dir_ / "py.txt";
  const std::string cmd = "/usr/bin/python3 " + quote((dir_ / "cmp.py").string()) + " " +
                          quote(h5.string()) + " " + quote(ref.string()) + " >" +
                          quote(out.string()) + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read_text(out);
  EXPECT_EQ(read_text(out), "ok\n");
}

TEST_F(GuiSmoke, TrainingSessionSavesAndReplaysTheSameDataTheCliPlots) {
  const fs::path h5 = dir_ / "training.h5";
  ASSERT_EQ(run("select 1 3\ntrain 15\nexport session " + h5.string() + "\n"), 0) << output();
  ASSERT_TRUE(fs::exists(h5)) << output();
  // Reopening the record replays the training run (GUI read path)...
  const fs::path gui_csv = dir_ / "gui.csv";
  ASSERT_EQ(run("export training " + gui_csv.string() + "\n", h5.string()), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["replaying"], h5.string());
  EXPECT_EQ(s["mpi_mode"], "training");
  EXPECT_EQ(s["training_layer"].get<int>(), 1);
  EXPECT_EQ(s["training_steps"].get<int>(), 15);
  // ...and draws exactly the data `routerscope plot` reads from the file (CLI read path).
  const fs::path cli_png = dir_ / "cli.png";
  const auto plot = test::run_routerscope(
      {"plot", h5.string(), "--figure", "training", "--out", cli_png.string()});
  ASSERT_EQ(plot.exit_code, 0) << plot.err;
  const std::string cli = read_text(dir_ / "cli.csv"), gui = read_text(gui_csv);
  EXPECT_GT(std::count(cli.begin(), cli.end(), '\n'), 15);
  EXPECT_EQ(gui, cli);
}

TEST_F(GuiSmoke, KeyboardShortcutsActThroughTheGlfwKeyCallback) {
  // → steps (three steps after row 0), Space starts playback.
  ASSERT_EQ(run("view mpi\nselect 0 1\nkey right\nkey right\nkey right\nkey space\n"), 0)
      << output();
  auto s = state();
  EXPECT_GE(s["steps_recorded"].get<int>(), 4);
  EXPECT_TRUE(s["playing"].get<bool>());
  ASSERT_EQ(run("view mpi\nselect 0 1\nkey right\nkey right\n"), 0) << output();
  EXPECT_EQ(state()["steps_recorded"].get<int>(), 3);
  EXPECT_FALSE(state()["playing"].get<bool>());
  ASSERT_EQ(run("key ctrl+o\n"), 0) << output();
  EXPECT_TRUE(state()["browser_open"].get<bool>());
  EXPECT_FALSE(state()["export_dialog_open"].get<bool>());
  ASSERT_EQ(run("key ctrl+e\n"), 0) << output();
  EXPECT_TRUE(state()["export_dialog_open"].get<bool>());
  EXPECT_FALSE(state()["browser_open"].get<bool>());
  // Ctrl+Q ends the script there: the later view change never happens.
  ASSERT_EQ(run("key ctrl+q\nview expert\n"), 0) << output();
  EXPECT_TRUE(state()["quit_requested"].get<bool>());
  EXPECT_EQ(state()["view"], "model");
}

TEST_F(GuiSmoke, DroppedFolderOpensThroughTheGlfwDropCallback) {
  const fs::path src = test::hf_tiny_dir();
  const fs::path folder = dir_ / "dropped model";
  fs::create_directories(folder);
  fs::copy_file(src / "mixtral_classic.safetensors", folder / "model.safetensors");
  fs::copy_file(src / "mixtral_classic_config.json", folder / "config.json");
  const auto cfg = nlohmann::json::parse(read_text(folder / "config.json"));
  ASSERT_EQ(run("drop " + folder.string() + "\n"), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(fs::path(s["opened_path"].get<std::string>()), folder);
  EXPECT_EQ(s["experts"].get<int>(), cfg["num_local_experts"].get<int>());
}

TEST_F(GuiSmoke, BadFileShowsTheErrorDialogAndTheAppSurvives) {
  const fs::path bad = dir_ / "broken.safetensors";
  std::ofstream(bad) << "this is not a safetensors file";
  ASSERT_EQ(run("open " + bad.string() + "\n"), 0) << output();
  const auto s = state();
  const std::string error = s["error"];
  EXPECT_NE(error.find(bad.string()), std::string::npos) << error;
  // The demo opened before the bad file stays open.
  EXPECT_TRUE(fs::exists(fs::path(s["opened_path"].get<std::string>()) / "model.safetensors"));
  EXPECT_GT(distinct_colours(io::read_png(png())), 50u);
}

TEST_F(GuiSmoke, MalformedScriptIsAUsageErrorNamingTheLine) {
  ASSERT_EQ(run("view model\nfrobnicate 3\n"), 2);
  EXPECT_NE(output().find("script.txt:2"), std::string::npos) << output();
}

// Each script action that cannot be done fails the run with exit 2 naming its line; the lines
// before it were done (the state file written by line 1 exists).
TEST_F(GuiSmoke, ScriptActionsThatCannotBeDoneExitTwoNamingTheLine) {
  // A file where the export needs a folder: it cannot be written (missing folders are created).
  std::ofstream(dir_ / "a-file") << "x";
  const fs::path unwritable = dir_ / "a-file" / "fig.csv";
  const struct {
    std::string action, why;
  } cases[] = {
      {"export frobnicate " + (dir_ / "f.csv").string(), "unknown figure 'frobnicate'"},
      {"export alignment " + (dir_ / "f.csv").string(), "no MPI steps recorded yet"},
      {"export training " + (dir_ / "f.csv").string(), "no router training steps yet"},
      {"export session " + (dir_ / "s.h5").string(), "no MPI steps recorded yet"},
      {"export heatmap " + (dir_ / "f.txt").string(), "expected a .png, .svg, .pdf or .csv"},
      {"export heatmap " + unwritable.string(), "a-file"},
      {"select 0 999", "out of range"},
      {"select 999 0", "not an MoE layer"},
      {"browse-open no-such-entry", "no entry 'no-such-entry'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.action);
    const fs::path before = dir_ / "before.json";
    fs::remove(before);
    EXPECT_EQ(run("state " + before.string() + "\nview model\n" + c.action + "\nview mpi\n"), 2);
    const std::string out = output();
    EXPECT_NE(out.find("script.txt:3: "), std::string::npos) << out;
    EXPECT_NE(out.find(c.why), std::string::npos) << out;
    EXPECT_TRUE(fs::exists(before));
    // The script stopped at the failing line: the view set on line 4 was never set.
    EXPECT_EQ(state()["view"], "model");
  }
}

// Steep segments of a line render whole: a zig-zag whose every vertex turns the line back on
// itself, drawn through the figure canvas, is red at every pixel along its path (sampled every
// half pixel along each segment from the points the app reports); a collapsed join leaves a gap.
TEST_F(GuiSmoke, SteepZigZagLinesRenderWithoutGaps) {
  for (const auto& [w, h] : {std::pair{1024, 640}, std::pair{1920, 1080}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    ASSERT_EQ(run("test-pattern zigzag\n", "", w, h), 0) << output();
    const io::RgbaImage img = io::read_png(png());
    ASSERT_EQ(img.width, w);
    const auto pattern = state()["test_pattern"];
    const auto& pts = pattern["points"];
    ASSERT_GE(pts.size(), 100u);
    auto red = [&](int x, int y) {
      const std::size_t i = (std::size_t(y) * std::size_t(img.width) + std::size_t(x)) * 4;
      return img.pixels[i] >= 128 && img.pixels[i + 1] < 80 && img.pixels[i + 2] < 80;
    };
    int checked = 0, gaps = 0;
    for (std::size_t k = 1; k < pts.size(); ++k) {
      const double x0 = pts[k - 1][0], y0 = pts[k - 1][1], x1 = pts[k][0], y1 = pts[k][1];
      const double len = std::hypot(x1 - x0, y1 - y0);
      ASSERT_GT(std::abs(y1 - y0), 4 * std::abs(x1 - x0)) << "the pattern is not steep";
      // The line's two ends are square cuts through a pixel: from 1 px inside them.
      const double from = k == 1 ? 1.0 : 0.0, to = k + 1 == pts.size() ? len - 1.0 : len;
      for (double t = from; t <= to; t += 0.5) {
        // The pixel whose centre is nearest the path point (pixel i covers [i, i + 1)).
        const int x = int(std::floor(x0 + (x1 - x0) * t / len)),
                  y = int(std::floor(y0 + (y1 - y0) * t / len));
        ++checked;
        if (!red(x, y) && ++gaps <= 5)
          ADD_FAILURE() << "gap at pixel (" << x << ", " << y << ") of segment " << k;
      }
    }
    EXPECT_GT(checked, 10000);
    EXPECT_EQ(gaps, 0) << "of " << checked << " samples";
  }
}

// Issue 14: before the first MPI step the timeline is an empty bar saying so, not a slider whose
// one-value handle fills the whole bar; the sidebar's stepped values follow the cursor.
TEST_F(GuiSmoke, EmptyTimelineIsAnEmptyBar) {
  ASSERT_EQ(run("view mpi\n", "", 1024, 640), 0) << output();
  const io::RgbaImage img = io::read_png(png());
  const auto s = state();
  ASSERT_EQ(s["steps_recorded"].get<int>(), 0);
  const auto r = s["timeline_rect"];
  const int x0 = int(std::ceil(r[0].get<double>())), y0 = int(std::ceil(r[1].get<double>())),
            x1 = int(r[2].get<double>()), y1 = int(r[3].get<double>());
  ASSERT_GT(x1 - x0, 200);
  ASSERT_GT(y1 - y0, 10);
  // A handle or a filled bar is the accent blue (translucent over the dark frame): blue well above
  // red, where the frame and the text are grey.
  int blue = 0, all = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x, ++all) {
      const std::uint8_t* p = &img.pixels[(std::size_t(y) * std::size_t(img.width) + x) * 4];
      blue += p[2] > 100 && p[2] > p[0] + 40;
    }
  EXPECT_LT(blue, all / 20) << blue << " of " << all << " timeline pixels are the accent blue";
}

// A Hub cache holding the demo as routerscope/demo-moe; the GUI process sees only that cache.
fs::path demo_in_hub_cache(const fs::path& cache, std::string& env) {
  const fs::path snapshot = test::add_hub_snapshot(
      cache, "routerscope/demo-moe", "0123456789abcdef0123456789abcdef01234567",
      fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo");
  env = "HF_HUB_CACHE=" + quote(cache.string()) +
        " HF_HOME= XDG_CACHE_HOME= HOME=" + quote((cache.parent_path() / "home").string());
  return snapshot;
}

TEST_F(GuiSmoke, OpensACachedModelByItsRepoId) {
  const fs::path snapshot = demo_in_hub_cache(dir_ / "hub", env_);
  ASSERT_EQ(run("open routerscope/demo-moe\n"), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(fs::path(s["opened_path"].get<std::string>()), snapshot);
  EXPECT_EQ(s["moe_layers"].get<int>(), 6); // the demo generator's layer count
}

TEST_F(GuiSmoke, BrowserHubPlaceListsCachedModelsByRepoIdAndOpensOne) {
  const fs::path snapshot = demo_in_hub_cache(dir_ / "hub", env_);
  fs::create_directories(dir_ / "hub" / "models--allenai--OLMoE-1B-7B-0924" / "snapshots");
  ASSERT_EQ(run("browse-hub\n"), 0) << output();
  auto s = state();
  EXPECT_TRUE(s["browser_open"].get<bool>());
  EXPECT_EQ(s["browser"]["place"], "hub");
  EXPECT_EQ(s["browser"]["entries"],
            nlohmann::json::array({"allenai/OLMoE-1B-7B-0924", "routerscope/demo-moe"}));
  // Opening the entry opens the model at its refs/main snapshot.
  ASSERT_EQ(run("browse-hub\nbrowse-open routerscope/demo-moe\n"), 0) << output();
  s = state();
  EXPECT_EQ(fs::path(s["opened_path"].get<std::string>()), snapshot);
  EXPECT_FALSE(s["browser_open"].get<bool>());
}

TEST_F(GuiSmoke, BrowserShowsHiddenFoldersOnlyWhenAskedAndOpensModelsFolders) {
  const fs::path snapshot = demo_in_hub_cache(dir_ / "place" / ".cache" / "hub", env_);
  ASSERT_EQ(run("browse " + (dir_ / "place").string() + "\n"), 0) << output();
  EXPECT_EQ(state()["browser"]["entries"], nlohmann::json::array());
  ASSERT_EQ(run("browse " + (dir_ / "place").string() +
                "\nbrowse-hidden on\nbrowse-open .cache\nbrowse-open hub\n"
                "browse-open models--routerscope--demo-moe\n"),
            0)
      << output();
  const auto s = state();
  EXPECT_TRUE(s["browser"]["show_hidden"].get<bool>());
  EXPECT_EQ(fs::path(s["opened_path"].get<std::string>()), snapshot);
}

// File > Follow run on a record its writer still appends to: the shown step count grows as steps
// land. The writer pauses after 5 steps until the GUI has written its mid-run state (the script's
// `state` action), so the growth is seen whatever the speed of either process.
TEST_F(GuiSmoke, FollowedRecordShowsTheStepCountGrowWhileTheRunWrites) {
  const fs::path demo = fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo";
  const ModelInfo info = io::open_checkpoint(demo)->info();
  test::LiveWriterSpec spec;
  spec.path = dir_ / "live.h5";
  spec.identity = {demo.string(), info.family, {{"model.safetensors", 1}}};
  spec.layer = info.moe_layers().front();
  spec.experts = info.layer(spec.layer).experts;
  spec.steps = 12;
  const fs::path mid = dir_ / "mid.json";
  spec.waits = {{5, {mid}}};
  spec.done_file = dir_ / "writer_done";
  for (const bool by_option : {true, false}) {
    SCOPED_TRACE(by_option ? "gui RUN.h5 --follow" : "script: follow RUN.h5");
    fs::remove(spec.path);
    fs::remove(mid);
    const pid_t pid = test::fork_live_writer(spec);
    ASSERT_GE(pid, 0);
    const std::string script = std::string(by_option ? "" : "follow " + spec.path.string() + "\n") +
                               "wait-steps 5\nstate " + mid.string() + "\nwait-steps 12\n";
    const int rc = by_option ? run_follow(script, spec.path.string()) : run(script);
    ASSERT_TRUE(test::writer_succeeded(pid));
    ASSERT_EQ(rc, 0) << output();
    const auto before = nlohmann::json::parse(read_text(mid));
    const auto after = state();
    EXPECT_EQ(before["training_steps"].get<int>(), 5);
    EXPECT_EQ(after["training_steps"].get<int>(), 12);
    EXPECT_EQ(after["following"], spec.path.string());
    EXPECT_EQ(after["replaying"], spec.path.string());
    EXPECT_EQ(after["mpi_mode"], "training");
    EXPECT_EQ(after["training_layer"].get<int>(), spec.layer);
    EXPECT_EQ(after["error"], "");
  }
}

// Issue 10's Pretraining view: a run started in the GUI records every step, and each figure the
// view draws (from the run's in-memory record) is byte for byte the figure `plot` draws from the
// record file the run wrote and the session saved (the CLI's read path).
TEST_F(GuiSmoke, PretrainingViewRunsAndDrawsWhatPlotDrawsFromItsRecord) {
  const fs::path h5 = dir_ / "pretrain.h5";
  std::string script = "view pretrain\npretrain 30\n";
  const std::vector<std::string> figures = {"pretraining", "pretraining-load",
                                            "pretraining-alignment", "pretraining-norms"};
  for (const auto& f : figures)
    script += "export " + f + " " + (dir_ / ("gui-" + f + ".csv")).string() + "\n";
  script += "export session " + h5.string() + "\n";
  ASSERT_EQ(run(script, "", 1440, 900), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["view"], "pretrain");
  EXPECT_EQ(s["pretraining"]["steps"].get<int>(), 30);
  EXPECT_FALSE(s["pretraining"]["running"].get<bool>());
  // The saved record holds every step of both variants (read by h5py, not by our reader).
  const auto py = test::run_shell(
      "/usr/bin/python3 -c \"import h5py,sys; f=h5py.File(sys.argv[1],'r'); "
      "print(f['variants/vanilla/loss'].shape[0], f['variants/mpi/layers/1/load'].shape)\" " +
      quote(h5.string()) + " 2>&1");
  EXPECT_EQ(py.out, "30 (30, 8)\n");
  for (const auto& f : figures) {
    const fs::path png = dir_ / ("cli-" + f + ".png");
    const auto plot =
        test::run_routerscope({"plot", h5.string(), "--figure", f, "--out", png.string()});
    ASSERT_EQ(plot.exit_code, 0) << plot.err;
    const std::string cli = read_text(dir_ / ("cli-" + f + ".csv"));
    EXPECT_GT(std::count(cli.begin(), cli.end(), '\n'), 2) << f;
    EXPECT_EQ(read_text(dir_ / ("gui-" + f + ".csv")), cli) << f;
  }
  // Reopening the record replays it in the Pretraining view (the GUI's file read path).
  const fs::path replay_csv = dir_ / "replay.csv";
  ASSERT_EQ(run("export pretraining-norms " + replay_csv.string() + "\n", h5.string()), 0)
      << output();
  const auto r = state();
  EXPECT_EQ(r["error"], "");
  EXPECT_EQ(r["view"], "pretrain");
  EXPECT_EQ(r["pretraining"]["source"], h5.string());
  EXPECT_EQ(r["pretraining"]["steps"].get<int>(), 30);
  EXPECT_EQ(read_text(replay_csv), read_text(dir_ / "cli-pretraining-norms.csv"));
}

// The pretraining job is owned by its panel: quitting while it runs cancels and joins it before
// anything it publishes into is destroyed (run under AddressSanitizer in CI).
TEST_F(GuiSmoke, QuitWhilePretrainingJoinsTheJobBeforeTearingDown) {
  ASSERT_EQ(run("view pretrain\nstart-pretrain 1000000\nkey ctrl+q\n"), 0) << output();
  const auto s = state();
  EXPECT_TRUE(s["quit_requested"].get<bool>());
  EXPECT_EQ(s["error"], "");
}

// `gui RUN.h5 --follow` on a record `routerscope pretrain` is writing: the view's step count
// grows while the run goes on.
TEST_F(GuiSmoke, FollowedPretrainingRecordGrowsWhileTheCliWritesIt) {
  const fs::path rec = dir_ / "live.h5", mid = dir_ / "mid.json";
  const auto started = test::run_shell(
      quote(test::routerscope_exe().string()) +
      " pretrain --d-model 16 --layers 2 --heads 2 --experts 4 --top-k 2 --d-expert 16 --ctx 16 "
      "--batch 4 --steps 100000 --threads 1 --record " +
      quote(rec.string()) + " >/dev/null 2>&1 & echo $!");
  const std::string pid = started.out.substr(0, started.out.find('\n'));
  ASSERT_FALSE(pid.empty());
  const int rc =
      run_follow("wait-steps 3\nstate " + mid.string() + "\nwait-steps +20\n", rec.string());
  test::run_shell("kill -INT " + pid + "; sleep 0.5; kill -9 " + pid + " 2>/dev/null");
  ASSERT_EQ(rc, 0) << output();
  const auto before = nlohmann::json::parse(read_text(mid)), after = state();
  EXPECT_EQ(after["error"], "");
  EXPECT_EQ(after["view"], "pretrain");
  EXPECT_EQ(after["following"], rec.string());
  EXPECT_GE(before["pretraining"]["steps"].get<int>(), 3);
  EXPECT_GE(after["pretraining"]["steps"].get<int>(),
            before["pretraining"]["steps"].get<int>() + 20);
}

// ---- the Series view (issue 16) ----

// (a) A series record opened in the GUI draws exactly what `plot` draws from it: the CSV of each
// series figure is byte-identical to plot's.
TEST_F(GuiSmoke, SeriesRecordOpenedExportsTheFiguresPlotDraws) {
  ASSERT_NO_FATAL_FAILURE(plant_series());
  const fs::path rec = dir_ / "series.h5";
  cli_series(rec, {"--tokens", tokens_.string()});
  const std::vector<std::string> figures = {"series-alignment", "series-norms", "series-load"};
  std::string script;
  for (const auto& f : figures)
    script += "export " + f + " " + (dir_ / ("gui-" + f + ".csv")).string() + "\n";
  ASSERT_EQ(run(script, rec.string(), 1440, 900), 0) << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["view"], "series");
  EXPECT_EQ(s["series"]["checkpoints"].get<int>(), 4);
  EXPECT_EQ(s["series"]["source"], rec.string());
  for (const auto& f : figures) {
    const fs::path png = dir_ / ("cli-" + f + ".png");
    const auto plot =
        test::run_routerscope({"plot", rec.string(), "--figure", f, "--out", png.string()});
    ASSERT_EQ(plot.exit_code, 0) << plot.err;
    const std::string cli = read_text(dir_ / ("cli-" + f + ".csv"));
    EXPECT_NE(cli.find("900"), std::string::npos) << f; // every checkpoint is drawn
    EXPECT_EQ(read_text(dir_ / ("gui-" + f + ".csv")), cli) << f;
  }
}

// (b) The state at a scrubbed cursor reports that checkpoint's step and the selected expert's
// values: h5py reads them from the record, and the planted closed form agrees.
TEST_F(GuiSmoke, SeriesCursorReportsTheCheckpointAndTheSelectedExpert) {
  ASSERT_NO_FATAL_FAILURE(plant_series());
  const fs::path rec = dir_ / "series.h5";
  cli_series(rec, {"--method", "exact"});
  ASSERT_EQ(run("series-cursor 1\nseries-select 1 2\n", rec.string()), 0) << output();
  const auto s = state()["series"];
  ASSERT_EQ(s["cursor"].get<int>(), 1);
  const auto py =
      test::run_shell("/usr/bin/python3 -c \"import h5py,sys; f=h5py.File(sys.argv[1],'r'); "
                      "print(repr(float(f['steps'][1])), repr(float(f['layers/1/lambda'][1,2])), "
                      "repr(float(f['layers/1/sigma1'][1,2])))\" " +
                      quote(rec.string()) + " 2>&1");
  ASSERT_EQ(py.exit_code, 0) << py.out;
  std::istringstream words(py.out);
  double step = 0, lambda = 0, sigma1 = 0;
  words >> step >> lambda >> sigma1;
  EXPECT_EQ(step, 300.0);
  EXPECT_EQ(s["step"].get<double>(), step);
  EXPECT_EQ(s["layer"].get<int>(), 1);
  EXPECT_EQ(s["expert"].get<int>(), 2);
  EXPECT_NEAR(s["values"]["lambda"].get<double>(), lambda, 1e-6);
  EXPECT_NEAR(s["values"]["sigma1"].get<double>(), sigma1, 1e-6 * sigma1);
  const test::PlantedExpertValues& want = expected_.at(300)[1][2];
  EXPECT_NEAR(s["values"]["lambda"].get<double>(), want.lambda, 2e-6);
  EXPECT_NEAR(s["values"]["cos"].get<double>(), want.cos, 2e-6);
  EXPECT_TRUE(s["values"]["load"].is_null()); // recorded without --tokens
  // A cursor beyond the series cannot be done: exit 2 naming the script line.
  EXPECT_EQ(run("series-cursor 4\n", rec.string()), 2) << output();
  EXPECT_NE(output().find("script.txt:1"), std::string::npos) << output();
  // Checkpoints that are not there: the error dialog names the argument, and the app goes on.
  const std::string nothing = (dir_ / "nothing-*").string();
  ASSERT_EQ(run("open-series " + nothing + "\n"), 0) << output();
  EXPECT_NE(
      state()["error"].get<std::string>().find(nothing + ": the pattern matches no checkpoint"),
      std::string::npos)
      << state()["error"];
  EXPECT_EQ(state()["view"], "series");
}

// (c) A series the GUI measures itself (a parent folder of checkpoints, as `series` takes it)
// records exactly what the CLI records for the same checkpoints; every dataset is compared by h5py.
TEST_F(GuiSmoke, SeriesMeasuredInTheGuiRecordsWhatTheCliRecords) {
  ASSERT_NO_FATAL_FAILURE(plant_series());
  const fs::path cli = dir_ / "cli.h5", gui = dir_ / "gui.h5";
  cli_series(cli);
  ASSERT_EQ(run("open-series " + (dir_ / "run").string() + "\nexport session " + gui.string() +
                    "\nseries-cursor 0\n",
                "", 1440, 900),
            0)
      << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["view"], "series");
  EXPECT_EQ(s["series"]["checkpoints"].get<int>(), 4);
  EXPECT_FALSE(s["series"]["running"].get<bool>());
  EXPECT_EQ(s["series"]["step"].get<double>(), 50.0);
  const auto py = test::run_shell(
      "/usr/bin/python3 -c \"import h5py,json,sys,numpy as np\n"
      "a=h5py.File(sys.argv[1],'r'); b=h5py.File(sys.argv[2],'r'); names=[]\n"
      "a.visititems(lambda n,o: names.append(n) if isinstance(o,h5py.Dataset) else None)\n"
      "same=[n for n in names if n!='committed_rows' and n in b and "
      "np.array_equal(a[n][()],b[n][()],equal_nan=True)]\n"
      "ca=json.loads(a.attrs['config']); cb=json.loads(b.attrs['config']); cb.pop('source')\n"
      "print(len(names)-1, len(same), ca==cb, a.attrs['kind']==b.attrs['kind'])\" " +
      quote(cli.string()) + " " + quote(gui.string()) + " 2>&1");
  ASSERT_EQ(py.exit_code, 0) << py.out;
  // steps + 2 layers x 6 per-expert datasets, all equal; the same config and kind.
  EXPECT_EQ(py.out, "13 13 True True\n");
}

// `count` checkpoints run/checkpoint-1 ... whose files link to the demo checkpoint (6 layers × 16
// experts): a series that takes a while to measure.
void demo_series(const fs::path& run, int count) {
  const fs::path demo = fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo";
  for (int i = 1; i <= count; ++i) {
    const fs::path c = run / ("checkpoint-" + std::to_string(i));
    fs::create_directories(c);
    for (const char* f : {"model.safetensors", "config.json"})
      fs::create_symlink(demo / f, c / f);
  }
}

// (d) The view grows while the series is measured, and quitting then cancels and joins its job
// before the panel it publishes into is destroyed (run under AddressSanitizer in CI).
TEST_F(GuiSmoke, QuitWhileASeriesIsMeasuredJoinsTheJobBeforeTearingDown) {
  demo_series(dir_ / "run", 60);
  ASSERT_EQ(run("start-series " + (dir_ / "run" / "checkpoint-*").string() +
                "\nwait-checkpoints 2\nkey ctrl+q\n"),
            0)
      << output();
  const auto s = state();
  EXPECT_TRUE(s["quit_requested"].get<bool>());
  EXPECT_TRUE(s["series"]["running"].get<bool>()); // it was quit while measuring
  EXPECT_GE(s["series"]["checkpoints"].get<int>(), 2);
  EXPECT_LT(s["series"]["checkpoints"].get<int>(), 60);
  EXPECT_EQ(s["series"]["total"].get<int>(), 60);
  // The timeline follows the newest checkpoint, whose step is its folder's number.
  EXPECT_EQ(s["series"]["step"].get<double>(), s["series"]["checkpoints"].get<double>());
  EXPECT_EQ(s["error"], "");
}

// `gui S.h5 --follow` on a record `routerscope series` is writing: the Series view's checkpoints
// grow while the CLI measures, and the timeline follows the newest.
TEST_F(GuiSmoke, FollowedSeriesRecordGrowsWhileTheCliMeasuresIt) {
  demo_series(dir_ / "run", 200);
  const fs::path rec = dir_ / "live.h5", mid = dir_ / "mid.json";
  const auto started =
      test::run_shell(quote(test::routerscope_exe().string()) + " series " +
                      quote((dir_ / "run" / "checkpoint-*").string()) +
                      " --method exact --no-cache --device cpu --threads 1 --record " +
                      quote(rec.string()) + " >/dev/null 2>&1 & echo $!");
  const std::string pid = started.out.substr(0, started.out.find('\n'));
  ASSERT_FALSE(pid.empty());
  const int rc =
      run_follow("wait-steps 2\nstate " + mid.string() + "\nwait-steps +2\n", rec.string());
  test::run_shell("kill -INT " + pid + "; sleep 0.5; kill -9 " + pid + " 2>/dev/null");
  ASSERT_EQ(rc, 0) << output();
  const auto before = nlohmann::json::parse(read_text(mid)), after = state();
  EXPECT_EQ(after["error"], "");
  EXPECT_EQ(after["view"], "series");
  EXPECT_EQ(after["following"], rec.string());
  EXPECT_GE(before["series"]["checkpoints"].get<int>(), 2);
  EXPECT_GE(after["series"]["checkpoints"].get<int>(),
            before["series"]["checkpoints"].get<int>() + 2);
  EXPECT_EQ(after["series"]["step"].get<double>(), after["series"]["checkpoints"].get<double>());
}

} // namespace
} // namespace routerscope

namespace routerscope {
namespace {

// Issue 14: the View menu's smoothing and log y apply to the figure on screen and to its export
// alike — the GUI's CSV of a smoothed, log-y training figure equals `plot --smooth --log-y` of
// the session it saves, byte for byte — and the state reports them.
TEST_F(GuiSmoke, ViewOptionsApplyOnScreenAndToExportsAsPlotAppliesThem) {
  const fs::path h5 = dir_ / "s.h5", gui_csv = dir_ / "gui.csv";
  ASSERT_EQ(run("select 1 3\ntrain 40\nsmooth 0.8\nlog-y on\nexport training " + gui_csv.string() +
                "\nexport session " + h5.string() + "\n"),
            0)
      << output();
  const auto s = state();
  EXPECT_DOUBLE_EQ(s["view_options"]["smoothing"].get<double>(), 0.8);
  EXPECT_TRUE(s["view_options"]["log_y"].get<bool>());
  const fs::path png = dir_ / "cli.png";
  const auto plot = test::run_routerscope({"plot", h5.string(), "--figure", "training", "--smooth",
                                           "0.8", "--log-y", "--out", png.string()});
  ASSERT_EQ(plot.exit_code, 0) << plot.err;
  const std::string cli = read_text(dir_ / "cli.csv"), gui = read_text(gui_csv);
  EXPECT_NE(cli.find("(raw)"), std::string::npos); // smoothed: the raw curves are columns too
  EXPECT_EQ(gui, cli);
  // A smoothing weight outside [0, 1) is a script line that cannot be done.
  EXPECT_EQ(run("smooth 1.5\n"), 2) << output();
}

// The model heatmap's colours span the data (the default) or its 2nd–98th percentile; oracle:
// `align --csv`'s |cos| values with NumPy's percentile.
TEST_F(GuiSmoke, ModelHeatmapColourRangeFollowsTheData) {
  const fs::path csv = dir_ / "align.csv";
  ASSERT_EQ(test::run_routerscope({"align", "--csv", csv.string()}).exit_code, 0);
  const auto oracle = test::run_shell(
      "/usr/bin/python3 -c \"import numpy as np, csv, sys; r=[float(x['cos']) for x in "
      "csv.DictReader(open(sys.argv[1])) if x['status']=='ok']; "
      "print(min(r), max(r), *np.percentile(r, [2, 98]))\" " +
      test::shell_quote(csv.string()));
  ASSERT_EQ(oracle.exit_code, 0) << oracle.out;
  double lo = 0, hi = 0, p2 = 0, p98 = 0;
  std::istringstream(oracle.out) >> lo >> hi >> p2 >> p98;
  ASSERT_LT(lo, hi);
  ASSERT_EQ(run(""), 0) << output();
  auto lim = state()["heatmap_colour_limits"];
  EXPECT_NEAR(lim[0].get<double>(), lo, 1e-6);
  EXPECT_NEAR(lim[1].get<double>(), hi, 1e-6);
  ASSERT_EQ(run("color-range robust\n"), 0) << output();
  lim = state()["heatmap_colour_limits"];
  EXPECT_NEAR(lim[0].get<double>(), p2, 1e-6);
  EXPECT_NEAR(lim[1].get<double>(), p98, 1e-6);
  EXPECT_EQ(state()["view_options"]["color_range"], "robust");
  ASSERT_EQ(run("color-range unit\n"), 0) << output();
  lim = state()["heatmap_colour_limits"];
  EXPECT_EQ(lim[0].get<double>(), 0.0);
  EXPECT_EQ(lim[1].get<double>(), 1.0);
}

} // namespace
} // namespace routerscope

namespace routerscope {
namespace {

// Issue 14: → pressed while MPI steps run is queued, not dropped; ←, Home and End move the
// timeline. Oracle: the number of steps asked for, and the step numbers of the recorded rows.
TEST_F(GuiSmoke, ArrowKeysQueueStepsAndScrubTheTimeline) {
  ASSERT_EQ(run("view mpi\nselect 0 1\nstart-step 1000\nkey right\nkey right\nkey right\nkey "
                "right\nkey right\n"),
            0)
      << output();
  // The first press comes one frame after the 1000 steps start, while they run (the script
  // then waits for them: each later press steps at once). Dropped, it would leave 1005 rows.
  EXPECT_EQ(state()["steps_recorded"].get<int>(), 1 + 1000 + 5);
  ASSERT_EQ(run("view mpi\nselect 0 1\nstep 10\nkey left\nkey left\nkey left\nstate " +
                (dir_ / "back.json").string() + "\nkey home\nstate " +
                (dir_ / "home.json").string() + "\nkey end\n"),
            0)
      << output();
  auto at = [&](const std::string& f) {
    return nlohmann::json::parse(read_text(dir_ / f))["step_index"].get<int>();
  };
  EXPECT_EQ(at("back.json"), 7);
  EXPECT_EQ(at("home.json"), 0);
  EXPECT_EQ(state()["step_index"].get<int>(), 10);
}

} // namespace
} // namespace routerscope

namespace routerscope {
namespace {

// Issue 14: changing an MPI setting while the run has steps keeps that run as the previous run,
// labelled with its settings and drawn in the same figures, instead of throwing it away. Oracle:
// `routerscope mpi --record` with each run's settings, read with h5py (the means over experts of
// the last step's |cos|, λ and ‖Rᵢ‖).
TEST_F(GuiSmoke, SettingsChangeKeepsTheRunAsAPreviousRunToCompare) {
  const fs::path csv = dir_ / "norms.csv";
  ASSERT_EQ(run("view mpi\nselect 1 2\nstep 4\nset c-prime 2\nset power-steps 2\nstep 3\n"
                "export norms " +
                csv.string() + "\n"),
            0)
      << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  ASSERT_TRUE(s["previous_run"].is_object()) << s.dump(2);
  const auto& prev = s["previous_run"];
  EXPECT_EQ(prev["label"], "C′ 4, k 1, gate, ablation none, softmax, top-k");
  EXPECT_EQ(prev["steps_recorded"].get<int>(), 5);
  EXPECT_EQ(prev["last_step"].get<int>(), 4);
  EXPECT_EQ(prev["settings"]["c_prime"].get<double>(), 4.0);
  EXPECT_EQ(prev["settings"]["power_steps"].get<int>(), 1);
  EXPECT_EQ(s["steps_recorded"].get<int>(), 4);
  EXPECT_EQ(s["mpi_settings"]["c_prime"].get<double>(), 2.0);
  EXPECT_EQ(s["mpi_settings"]["power_steps"].get<int>(), 2);
  // The figure on screen and its export draw the previous run's mean, named by what differs.
  EXPECT_NE(read_text(csv).find("mean ‖Rᵢ‖ — previous run (C′ 4, k 1)"), std::string::npos)
      << read_text(csv).substr(0, 400);
  // Each run's numbers are what the CLI computes with its settings.
  auto cli_means = [&](const std::string& name, const std::vector<std::string>& settings) {
    const fs::path h5 = dir_ / (name + ".h5");
    std::vector<std::string> a = {"mpi",   "--layers", "1",        "--method",
                                  "exact", "--record", h5.string()};
    a.insert(a.end(), settings.begin(), settings.end());
    const auto r = test::run_routerscope(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto py = test::run_shell(
        "/usr/bin/python3 -c \"import h5py,sys,numpy as np; f=h5py.File(sys.argv[1],'r'); "
        "g=f['layers/1']; print(np.nanmean(g['cos'][-1]), np.nanmean(g['lambda'][-1]), "
        "np.mean(g['router_norm'][-1]), g['cos'].shape[0])\" " +
        quote(h5.string()) + " 2>&1");
    EXPECT_EQ(py.exit_code, 0) << py.out;
    std::vector<double> v(4, NAN);
    std::istringstream(py.out) >> v[0] >> v[1] >> v[2] >> v[3];
    return v;
  };
  const auto a = cli_means("prev", {"--steps", "4", "--c-prime", "4", "--power-steps", "1"});
  const auto b = cli_means("now", {"--steps", "3", "--c-prime", "2", "--power-steps", "2"});
  EXPECT_EQ(a[3], 5);
  EXPECT_EQ(b[3], 4);
  EXPECT_NEAR(prev["mean_cos"].get<double>(), a[0], 2e-4);
  EXPECT_NEAR(prev["mean_lambda"].get<double>(), a[1], 2e-4);
  EXPECT_NEAR(prev["mean_norm"].get<double>(), a[2], 2e-4 * a[2]);
  EXPECT_NEAR(s["mean_cos"].get<double>(), b[0], 2e-4);
  EXPECT_NEAR(s["mean_lambda"].get<double>(), b[1], 2e-4);
  EXPECT_NEAR(s["mean_norm"].get<double>(), b[2], 2e-4 * b[2]);
  EXPECT_NE(a[2], b[2]); // C′ 4 and C′ 2 retract to different radii

  // Clearing the previous run, and a setting the sidebar has no value for.
  ASSERT_EQ(run("view mpi\nselect 1 2\nstep 2\nset gating topk-softmax\nclear-previous\n"), 0)
      << output();
  EXPECT_TRUE(state()["previous_run"].is_null());
  EXPECT_EQ(state()["mpi_settings"]["gating"], "topk-softmax");
  EXPECT_EQ(run("set c-prime 99\n"), 2) << output();
  EXPECT_NE(output().find("script.txt:1"), std::string::npos) << output();
  EXPECT_EQ(run("set ablation no-powr\n"), 2) << output();
  EXPECT_NE(output().find("none|no-power|no-retract"), std::string::npos) << output();
}

// Issue 14: Train with the sidebar's settings changed keeps the run on screen as the previous run:
// its lines are drawn dash-dot in the same figures, named after the settings that differ, and are
// the very data the run showed (oracle: the CSV the first run exported on its own).
TEST_F(GuiSmoke, TrainingAgainKeepsTheRunOnScreenAsAPreviousRun) {
  const fs::path a = dir_ / "a.csv", b = dir_ / "b.csv";
  ASSERT_EQ(run("select 1 3\ntrain 12\nexport training " + a.string() +
                "\nset lr 0.01\nset variants vanilla,mpi,no-power\ntrain 8\nexport training " +
                b.string() + "\n"),
            0)
      << output();
  const auto s = state();
  EXPECT_EQ(s["error"], "");
  ASSERT_TRUE(s["training_previous"].is_object()) << s.dump(2);
  EXPECT_EQ(s["training_previous"]["steps"].get<int>(), 12);
  EXPECT_EQ(s["training_previous"]["layer"].get<int>(), 1);
  EXPECT_EQ(s["training_previous"]["label"],
            "vanilla+mpi, synthetic, lr 0.001, batch 256, steps 12, C′ 4, k 1, gate, softmax-topk");
  EXPECT_EQ(s["training_steps"].get<int>(), 8);
  EXPECT_NE(s["training_label"].get<std::string>().find("vanilla+mpi+no-power"), std::string::npos);
  // CSV rows: panel,panel_title,kind,series,index,x,y,...; the previous run's rows of b are a's.
  auto rows = [](const fs::path& f, const std::string& suffix) {
    std::map<std::string, std::string> out; // "panel|series|index" -> "x,y"
    std::istringstream in(read_text(f));
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> c(1); // cells; a quoted one may hold commas
      bool quoted = false;
      for (char ch : line)
        if (ch == '"')
          quoted = !quoted;
        else if (ch == ',' && !quoted)
          c.emplace_back();
        else
          c.back() += ch;
      if (c.size() < 7 || c[2] != "line" || !c[3].ends_with(suffix))
        continue;
      out[c[0] + "|" + c[3].substr(0, c[3].size() - suffix.size()) + "|" + c[4]] =
          c[5] + "," + c[6];
    }
    return out;
  };
  const auto first = rows(a, "");
  const auto kept = rows(b, " — previous run (vanilla+mpi, lr 0.001, steps 12)");
  EXPECT_GE(first.size(), 4u * 2 * 12); // four panels, two variants, twelve steps
  EXPECT_EQ(kept, first);
  // Clear previous run forgets it.
  ASSERT_EQ(run("select 1 3\ntrain 5\ntrain 5\nclear-previous\n"), 0) << output();
  EXPECT_TRUE(state()["training_previous"].is_null());
  EXPECT_EQ(run("set batch 0\n"), 2) << output();
}

// Issue 14: every parameter widget and metric label a frame draws has a help text (its tooltip),
// in every view; λ's text writes out Eq. 11 and MaxVio's its definition (oracle: mpi.md's
// formulas, typed here).
TEST_F(GuiSmoke, EveryParameterAndMetricLabelHasATooltip) {
  const std::vector<std::string> views = {"model", "expert", "mpi", "train", "pretrain", "series"};
  std::string script;
  for (const auto& v : views) {
    if (v == "train")
      script += "train 3\n";
    else
      script += "view " + v + "\n" + (v == "mpi" ? "select 0 1\nstep 2\n" : "");
    script += "state " + (dir_ / (v + ".json")).string() + "\n";
  }
  ASSERT_EQ(run(script), 0) << output();
  std::map<std::string, std::string> texts;
  for (const auto& v : views) {
    const auto j = nlohmann::json::parse(read_text(dir_ / (v + ".json")));
    ASSERT_TRUE(j["help_labels"].is_array()) << v;
    EXPECT_GE(j["help_labels"].size(), 5u) << v;
    for (const auto& l : j["help_labels"]) {
      EXPECT_TRUE(l["tooltip"].get<bool>()) << "no help text for '" << l["name"] << "' in " << v;
      texts[l["name"].get<std::string>()] = l["text"].get<std::string>();
    }
  }
  for (const char* name :
       {"|cos(Rᵢ, u₁)|", "λ",       "λ (Eq. 11)", "σ₁",      "σ₂/σ₁", "‖Rᵢ‖",  "C′",
        "power steps k", "matrix",  "ablation",   "gating",  "tan θ", "bound", "MaxVio",
        "task loss",     "LB loss", "lr",         "batch",   "steps", "top-k", "LB α",
        "experts",       "layer",   "expert",     "vanilla", "mpi",   "method"})
    EXPECT_TRUE(texts.count(name)) << name << " was not drawn with a tooltip";
  EXPECT_NE(texts["λ"].find("‖R′ᵢ W_g‖₂ / (‖R′ᵢ‖₂ · σ_max(W_g))"), std::string::npos);
  EXPECT_NE(texts["λ"].find("Eq. 11"), std::string::npos);
  EXPECT_NE(texts["MaxVio"].find("(maxᵢ Loadᵢ − L̄) / L̄"), std::string::npos);
  EXPECT_NE(texts["MaxVio"].find("L̄ = T·k/N"), std::string::npos);
  EXPECT_NE(texts["C′"].find("C = C′/√N"), std::string::npos);
}

// Issue 14: the theme and the window size are remembered in $XDG_CONFIG_HOME/routerscope/gui.json
// (the fixture points XDG_CONFIG_HOME into its temporary folder); --theme and --size win over
// them; screenshot mode leaves the file alone without --remember; a broken file is a warning
// naming it, and the defaults.
TEST_F(GuiSmoke, ThemeAndWindowSizeAreRememberedBetweenSessions) {
  const fs::path file = dir_ / "config" / "routerscope" / "gui.json";
  ASSERT_EQ(run("theme light\nsize 1100 700\n", "", 1024, 700, "--remember "), 0) << output();
  ASSERT_TRUE(fs::exists(file)) << output();
  const auto saved = nlohmann::json::parse(read_text(file));
  EXPECT_EQ(saved["theme"], "light");
  EXPECT_EQ(saved["width"].get<int>(), 1100);
  EXPECT_EQ(saved["height"].get<int>(), 700);
  // The next session starts with them.
  ASSERT_EQ(run("", "", 0, 0, "--remember "), 0) << output();
  EXPECT_EQ(state()["theme"], "light");
  EXPECT_EQ(state()["window_size"], nlohmann::json::array({1100, 700}));
  EXPECT_EQ(state()["settings_file"], file.string());
  EXPECT_EQ(state()["settings_warning"], "");
  // Screenshot mode without --remember neither reads nor writes it.
  const std::string before = read_text(file);
  ASSERT_EQ(run("theme dark\n", "", 0, 0), 0) << output();
  EXPECT_EQ(state()["theme"], "dark");
  EXPECT_EQ(state()["window_size"], nlohmann::json::array({1440, 900})); // the defaults
  EXPECT_EQ(state()["settings_file"], "");
  EXPECT_EQ(read_text(file), before);
  // The command line wins over the file.
  ASSERT_EQ(run("", "", 800, 600, "--remember --theme dark "), 0) << output();
  EXPECT_EQ(state()["theme"], "dark");
  EXPECT_EQ(state()["window_size"], nlohmann::json::array({800, 600}));
  // A file that is not what it should be: a warning naming it and what was wrong, the defaults.
  std::ofstream(file) << "{\"theme\": \"pink\", \"width\": 1000, \"height\": 700}\n";
  ASSERT_EQ(run("", "", 0, 0, "--remember "), 0) << output();
  EXPECT_EQ(state()["theme"], "dark");
  EXPECT_EQ(state()["window_size"], nlohmann::json::array({1440, 900}));
  const std::string warning = state()["settings_warning"];
  EXPECT_NE(warning.find(file.string()), std::string::npos) << warning;
  EXPECT_NE(warning.find("\"pink\""), std::string::npos) << warning;
  EXPECT_NE(output().find("warning: ignoring the GUI settings file " + file.string()),
            std::string::npos)
      << output();
  std::ofstream(file) << "[1440, 900"; // not JSON
  ASSERT_EQ(run("", "", 0, 0, "--remember "), 0) << output();
  EXPECT_NE(state()["settings_warning"].get<std::string>().find("not JSON"), std::string::npos);
}

// Issue 14: the UI font comes from fontconfig, asked for a sans-serif font with σ λ θ ‖ ₁ ₂ ′
// (oracle: `fc-match` asked the same), and every one of those glyphs is in ImGui's atlas; with
// fontconfig knowing no font, the DejaVu Sans file is the fallback.
TEST_F(GuiSmoke, UiFontComesFromFontconfigAndHasTheGreekAndMathGlyphs) {
  auto check_glyphs = [](const nlohmann::json& font) {
    for (const char* g : {"σ", "λ", "θ", "‖", "₁", "₂", "′"})
      EXPECT_TRUE(font["glyphs"][g].get<bool>()) << g << " is not in the atlas: " << font.dump();
    EXPECT_TRUE(fs::exists(font["file"].get<std::string>())) << font.dump();
  };
  ASSERT_EQ(run(""), 0) << output();
  const auto font = state()["font"];
  check_glyphs(font);
  if (std::system("command -v fc-match >/dev/null 2>&1") == 0) {
    const auto fc = test::run_shell("fc-match -f '%{file}' "
                                    "'sans-serif:scalable=true:charset=3c3 3bb 3b8 2016 2081 "
                                    "2082 2032'");
    ASSERT_EQ(fc.exit_code, 0);
    EXPECT_EQ(font["source"], "fontconfig");
    EXPECT_EQ(font["file"].get<std::string>(), fc.out);
  }
  // A fontconfig that knows no font: the fallback file.
  fs::create_directories(dir_ / "fc");
  std::ofstream(dir_ / "fc" / "fonts.conf")
      << "<?xml version=\"1.0\"?>\n<fontconfig><cachedir>" << (dir_ / "fc" / "cache").string()
      << "</cachedir></fontconfig>\n";
  env_ = "FONTCONFIG_FILE=" + quote((dir_ / "fc" / "fonts.conf").string());
  ASSERT_EQ(run(""), 0) << output();
  EXPECT_EQ(state()["font"]["source"], "fallback path");
  check_glyphs(state()["font"]);
}

// Issue 14: numbers shown to people have 4 significant digits and byte counts binary units (one
// helper, core/number_format.h): the sidebar's values of a selected expert and the checkpoint's
// size are what Python's '%.4g' writes of `align --csv`'s values and the binary-unit form of
// `inspect --json`'s bytes_on_disk (expert 8 of layer 2 has |cos| < 0.1, where '%.4f' differs).
TEST_F(GuiSmoke, ShownNumbersHaveFourSignificantDigitsAndBinaryUnits) {
  const fs::path csv = dir_ / "align.csv", info = dir_ / "inspect.json";
  ASSERT_EQ(test::run_routerscope({"align", "--csv", csv.string()}).exit_code, 0);
  const auto inspect = test::run_routerscope({"inspect", "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  std::ofstream(info) << inspect.out;
  const std::string py =
      "import csv, json, sys\n"
      "r = [x for x in csv.DictReader(open(sys.argv[1])) if x['layer'] == '2' and "
      "x['expert'] == '8'][0]\n"
      "n = json.load(open(sys.argv[2]))['bytes_on_disk']\n"
      "u = max(k for k in range(5) if k == 0 or n >= 1024 ** k)\n"
      "size = '%d B' % n if u == 0 else '%.4g %s' % (n / 1024 ** u, ['', 'KiB', 'MiB', 'GiB', "
      "'TiB'][u])\n"
      "print(json.dumps({'|cos(Rᵢ, u₁)|': '%.4g' % float(r['cos']), 'λ': '%.4g' % "
      "float(r['lambda']), 'σ₂/σ₁': '%.4g' % float(r['gap_ratio']), '‖Rᵢ‖': '%.4g' % "
      "float(r['router_norm']), 'σ₁': '%.4g' % float(r['sigma1']), 'size': size}))\n";
  std::ofstream(dir_ / "fmt.py") << py;
  const auto oracle = test::run_shell("/usr/bin/python3 " + quote((dir_ / "fmt.py").string()) +
                                      " " + quote(csv.string()) + " " + quote(info.string()));
  ASSERT_EQ(oracle.exit_code, 0) << oracle.out;
  const auto want = nlohmann::json::parse(oracle.out);
  ASSERT_EQ(run("select 2 8\nstate " + (dir_ / "model.json").string() + "\nview expert\n"), 0)
      << output();
  const auto model = nlohmann::json::parse(read_text(dir_ / "model.json"))["shown_values"];
  for (const char* k : {"|cos(Rᵢ, u₁)|", "λ", "σ₂/σ₁", "‖Rᵢ‖", "size"})
    EXPECT_EQ(model[k], want[k]) << k;
  EXPECT_LT(std::stod(model["|cos(Rᵢ, u₁)|"].get<std::string>()), 0.1);
  const auto expert = state()["shown_values"];
  for (const char* k : {"|cos(Rᵢ, u₁)|", "λ", "σ₁"})
    EXPECT_EQ(expert[k], want[k]) << k;
}

// Issue 14, export follows the screen: the zoomed training figure exports only its x range —
// the GUI's CSV equals `plot --x-range` of the session the GUI saves, byte for byte, and h5py
// finds in it exactly the record's rows of the zoomed steps — and its PNG has plot's page size.
TEST_F(GuiSmoke, ZoomedExportIsPlotsXRangeOfTheRecordAtPlotsPageSize) {
  const fs::path h5 = dir_ / "s.h5", gui_csv = dir_ / "gui.csv", gui_png = dir_ / "gui.png";
  ASSERT_EQ(run("select 1 3\ntrain 40\nzoom 10 25.5\nexport training " + gui_csv.string() +
                "\nexport training " + gui_png.string() + "\nexport session " + h5.string() + "\n"),
            0)
      << output();
  const auto s = state();
  EXPECT_EQ(s["screen_figure"], "training");
  EXPECT_EQ(s["zoom"]["x"], nlohmann::json({10.0, 25.5}));
  const fs::path cli_png = dir_ / "cli.png";
  const auto plot = test::run_routerscope({"plot", h5.string(), "--figure", "training", "--x-range",
                                           "10:25.5", "--out", cli_png.string()});
  ASSERT_EQ(plot.exit_code, 0) << plot.err;
  // (not EXPECT_EQ: a mismatch would print both CSVs whole)
  EXPECT_TRUE(read_text(gui_csv) == read_text(dir_ / "cli.csv")) << "the CSVs differ";
  const io::RgbaImage gui_image = io::read_png(gui_png), cli_image = io::read_png(cli_png);
  EXPECT_EQ(gui_image.width, cli_image.width);
  EXPECT_EQ(gui_image.height, cli_image.height);
  EXPECT_GT(gui_image.width, 0);
  // The record's own rows: every line point of the CSV lies in [10, 25.5], and each variant's
  // task-loss line is the record's task_loss at steps 10..25.
  const std::string py =
      "import csv,sys,h5py,numpy as np\n"
      "rows=list(csv.DictReader(open(sys.argv[1])))\n"
      "f=h5py.File(sys.argv[2],'r')\n"
      "xs=[float(r['x']) for r in rows if r['kind'] in ('line','band','bar')]\n"
      "assert xs and min(xs)>=10 and max(xs)<=25.5, (min(xs),max(xs))\n"
      "checked=0\n"
      "for v in f['variants']:\n"
      "  want=f['variants/'+v+'/task_loss'][10:26]\n"
      "  got=[r for r in rows if r['kind']=='line' and r['series']==v and\n"
      "       'task' in r['panel_title'].lower()]\n"
      "  assert [float(r['x']) for r in got]==list(range(10,26)), [r['x'] for r in got]\n"
      "  assert np.allclose([float(r['y']) for r in got], want, rtol=1e-6), v\n"
      "  checked+=1\n"
      "assert checked>=1\n"
      "print('ok')\n";
  std::ofstream(dir_ / "cmp.py") << py;
  const auto r = test::run_shell("/usr/bin/python3 " + quote((dir_ / "cmp.py").string()) + " " +
                                 quote(gui_csv.string()) + " " + quote(h5.string()) + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "ok\n");
}

// The y zoom too: a convergence figure zoomed on both axes exports what `plot --x-range
// --y-range` draws of the saved session, pixel for pixel; the unzoomed export differs.
TEST_F(GuiSmoke, ZoomOnBothAxesExportsWhatPlotDrawsWithBothRanges) {
  const fs::path h5 = dir_ / "s.h5", zoomed = dir_ / "zoomed.png", whole = dir_ / "whole.png";
  ASSERT_EQ(run("view mpi\nselect 2 1\nstep 8\nexport convergence " + whole.string() +
                "\nzoom 2 6 0.001 0.5\nexport convergence " + zoomed.string() +
                "\nexport session " + h5.string() + "\n"),
            0)
      << output();
  EXPECT_EQ(state()["zoom"]["y"], nlohmann::json({0.001, 0.5}));
  const fs::path cli_png = dir_ / "cli.png";
  const auto plot =
      test::run_routerscope({"plot", h5.string(), "--figure", "convergence", "--x-range", "2:6",
                             "--y-range", "0.001:0.5", "--out", cli_png.string()});
  ASSERT_EQ(plot.exit_code, 0) << plot.err;
  const io::RgbaImage gui = io::read_png(zoomed), cli = io::read_png(cli_png),
                      unzoomed = io::read_png(whole);
  EXPECT_EQ(gui.width, cli.width);
  EXPECT_EQ(gui.height, cli.height);
  EXPECT_TRUE(gui.pixels == cli.pixels);
  EXPECT_FALSE(unzoomed.pixels == cli.pixels);
  // A zoom where the figure on screen does not zoom (the model heatmap) cannot be done.
  EXPECT_EQ(run("view model\nzoom 1 2\n"), 2) << output();
  EXPECT_NE(output().find("script.txt:2: "), std::string::npos) << output();
}

// Browse… in the Export dialog opens the file browser in save mode: it lists folders and the
// figures already there (not the checkpoint files), enters a folder, takes an existing file's
// name and extension (its format), and a typed name becomes the dialog's file.
TEST_F(GuiSmoke, ExportBrowseChoosesAFolderAndAName) {
  const fs::path out = dir_ / "out";
  fs::create_directories(out / "figs");
  std::ofstream(out / "figs" / "old.svg") << "<svg/>";
  std::ofstream(out / "model.safetensors") << "x";
  std::ofstream(out / "notes.txt") << "x";
  ASSERT_EQ(run("view mpi\nstep 2\nexport-browse " + out.string() + "\nstate " +
                (dir_ / "listed.json").string() + "\nexport-browse-open figs\nexport-browse-open " +
                "old.svg\nexport-browse-choose old.svg\nstate " + (dir_ / "took.json").string() +
                "\nexport-browse " + out.string() + "\nexport-browse-choose fresh\n"),
            0)
      << output();
  const auto listed = nlohmann::json::parse(read_text(dir_ / "listed.json"));
  EXPECT_TRUE(listed["export_dialog_open"].get<bool>());
  EXPECT_EQ(listed["export_browser"]["mode"], "save");
  EXPECT_EQ(listed["export_browser"]["folder"], out.string());
  EXPECT_EQ(listed["export_browser"]["entries"], nlohmann::json({"figs"}));
  const auto took = nlohmann::json::parse(read_text(dir_ / "took.json"));
  EXPECT_EQ(took["export_browser"]["folder"], (out / "figs").string());
  EXPECT_EQ(took["export_browser"]["entries"], nlohmann::json({"old.svg"}));
  // The dialog offers the figure on screen; the chosen file keeps its format (svg).
  EXPECT_EQ(took["export_figure"], "convergence");
  EXPECT_EQ(took["export_file"], (out / "figs" / "old.svg").string());
  // A name without an extension keeps the dialog's format.
  EXPECT_EQ(state()["export_file"], (out / "fresh.svg").string());
  EXPECT_TRUE(state()["export_dialog_open"].get<bool>());
  // A name with a folder in it is not a name.
  EXPECT_EQ(run("export-browse " + out.string() + "\nexport-browse-choose a/b\n"), 2);
  EXPECT_NE(output().find("script.txt:2: "), std::string::npos) << output();
}

// The Series view's heatmap colours follow View ▸ Heatmap colours like the model heatmap — by
// default the data's min–max, over every checkpoint so the scale stays put while the timeline
// scrubs. Oracle: h5py reads |cos| of every layer at every checkpoint of the record, NumPy takes
// min, max and the 2nd/98th percentiles.
TEST_F(GuiSmoke, SeriesHeatmapColourRangeFollowsTheViewSetting) {
  ASSERT_NO_FATAL_FAILURE(plant_series());
  const fs::path rec = dir_ / "series.h5";
  cli_series(rec, {"--method", "exact"});
  const auto py = test::run_shell(
      "/usr/bin/python3 -c \"import h5py,sys,numpy as np; f=h5py.File(sys.argv[1],'r'); "
      "v=np.concatenate([f['layers/'+k+'/cos'][:].ravel() for k in f['layers']]); "
      "v=v[np.isfinite(v)]; print(repr(float(v.min())), repr(float(v.max())), "
      "*[repr(float(p)) for p in np.percentile(v, [2, 98])])\" " +
      quote(rec.string()) + " 2>&1");
  ASSERT_EQ(py.exit_code, 0) << py.out;
  double lo = 0, hi = 0, p2 = 0, p98 = 0;
  std::istringstream(py.out) >> lo >> hi >> p2 >> p98;
  ASSERT_LT(lo, hi);
  ASSERT_TRUE(lo > 0.01 || hi < 0.99) << "the planted |cos| span 0–1: the test could not fail";
  auto limits = [&](const std::string& script) {
    EXPECT_EQ(run(script + "series-cursor 1\n", rec.string()), 0) << output();
    return state()["series"]["heatmap_colour_limits"];
  };
  auto lim = limits("");
  EXPECT_NEAR(lim[0].get<double>(), lo, 1e-6);
  EXPECT_NEAR(lim[1].get<double>(), hi, 1e-6);
  lim = limits("color-range robust\n");
  EXPECT_NEAR(lim[0].get<double>(), p2, 1e-6);
  EXPECT_NEAR(lim[1].get<double>(), p98, 1e-6);
  lim = limits("color-range unit\n");
  EXPECT_EQ(lim[0].get<double>(), 0.0);
  EXPECT_EQ(lim[1].get<double>(), 1.0);
}

// Overwrite question: an export to a file that exists asks "Replace FILE?"; Replace writes it,
// Cancel leaves it byte for byte, and a script that does not answer exits 2 naming the line.
TEST_F(GuiSmoke, ExportToAnExistingFileAsksBeforeReplacingIt) {
  const fs::path csv = dir_ / "fig.csv";
  const std::string old = "not a figure\n";
  std::ofstream(csv) << old;
  const std::string export_line = "export convergence " + csv.string() + "\n";
  // Asked and shown (the question is in the state written while it is open).
  ASSERT_EQ(run("view mpi\nstep 3\n" + export_line + "export-confirm cancel\n"), 0) << output();
  EXPECT_EQ(read_text(csv), old);
  EXPECT_EQ(state()["export_question"], "");
  ASSERT_EQ(
      run("view mpi\nstep 3\n" + export_line + "state " + (dir_ / "asked.json").string() + "\n"),
      2);
  EXPECT_NE(output().find("script.txt:3: "), std::string::npos) << output();
  EXPECT_NE(output().find("export-confirm"), std::string::npos) << output();
  EXPECT_FALSE(fs::exists(dir_ / "asked.json")); // the script stopped at the unanswered line
  EXPECT_EQ(state()["export_question"], "Replace " + csv.string() + "?");
  EXPECT_EQ(read_text(csv), old);
  // Unanswered at the end of the script: the same.
  ASSERT_EQ(run("view mpi\nstep 3\n" + export_line), 2);
  EXPECT_NE(output().find("script.txt:3: "), std::string::npos) << output();
  EXPECT_EQ(read_text(csv), old);
  // Replace: the file becomes the figure's CSV (what a fresh export writes).
  const fs::path fresh = dir_ / "fresh.csv";
  ASSERT_EQ(run("view mpi\nstep 3\n" + export_line + "export-confirm replace\nexport convergence " +
                fresh.string() + "\n"),
            0)
      << output();
  EXPECT_NE(read_text(csv), old);
  EXPECT_EQ(read_text(csv), read_text(fresh));
  // An answer with no question open cannot be done.
  EXPECT_EQ(run("export-confirm replace\n"), 2) << output();
  EXPECT_NE(output().find("script.txt:1: "), std::string::npos) << output();
}

// The faults of the figures' text as the screen drew it (ImGui's font metrics, from the state
// JSON's figure_text): boxes of one figure that overlap by more than half a pixel, and boxes
// that leave their figure's rectangle.
std::string screen_text_faults(const nlohmann::json& state, const std::string& where) {
  std::ostringstream out;
  for (const auto& f : state["figure_text"]) {
    const auto& r = f["rect"];
    const auto& b = f["boxes"];
    auto v = [](const nlohmann::json& box, int i) { return box[std::size_t(i)].get<double>(); };
    for (std::size_t i = 0; i < b.size(); ++i) {
      const std::string text = b[i][0].get<std::string>();
      if (v(b[i], 1) < v(r, 0) - 0.5 || v(b[i], 2) < v(r, 1) - 0.5 || v(b[i], 3) > v(r, 2) + 0.5 ||
          v(b[i], 4) > v(r, 3) + 0.5)
        out << where << " " << f["id"] << ": '" << text << "' leaves the figure\n";
      for (std::size_t j = i + 1; j < b.size(); ++j)
        if (v(b[i], 1) + 0.5 < v(b[j], 3) && v(b[j], 1) + 0.5 < v(b[i], 3) &&
            v(b[i], 2) + 0.5 < v(b[j], 4) && v(b[j], 2) + 0.5 < v(b[i], 4))
          out << where << " " << f["id"] << ": '" << text << "' overlaps '"
              << b[j][0].get<std::string>() << "'\n";
    }
  }
  return out.str();
}

// Issue 14, layout holds at 1024×640 and 1920×1080: in every view with figures (MPI convergence
// after some steps and its |cos|, norms and load page; router training's three figures after a
// short run, with the load over steps beside the losses where the window is wide; pretraining's
// four; the series' three) no two text boxes of a figure overlap and none leaves the figure, as
// the screen draws them.
TEST_F(GuiSmoke, FigureTextNeitherOverlapsNorLeavesItsFigureOnScreen) {
  ASSERT_NO_FATAL_FAILURE(plant_series());
  const fs::path rec = dir_ / "series.h5";
  cli_series(rec, {"--tokens", tokens_.string()});
  const std::vector<std::vector<std::string>> steps = {
      {"view mpi", "step 8", "show convergence"},
      {"show alignment"},
      {"train 12", "show training"},
      {"show training-load"},
      {"show training-norms"},
      {"pretrain 8", "show pretraining"},
      {"show pretraining-load"},
      {"show pretraining-alignment"},
      {"show pretraining-norms"},
      {"open " + rec.string(), "show series-alignment"},
      {"show series-norms"},
      {"show series-load"}};
  for (const auto& [w, h] : {std::pair{1024, 640}, std::pair{1920, 1080}}) {
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    std::string script;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      for (const auto& line : steps[i])
        script += line + "\n";
      script += "state " + (dir_ / (size + "-" + std::to_string(i) + ".json")).string() + "\n";
    }
    ASSERT_EQ(run(script, "", w, h), 0) << output();
    int figures = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const auto s =
          nlohmann::json::parse(read_text(dir_ / (size + "-" + std::to_string(i) + ".json")));
      const std::string where = size + " " + steps[i].back();
      EXPECT_EQ(s["error"], "") << where;
      EXPECT_GE(s["figure_text"].size(), 1u) << where;
      for (const auto& f : s["figure_text"])
        EXPECT_GE(f["boxes"].size(), 6u) << where; // titles, tick labels, axis titles
      figures += int(s["figure_text"].size());
      EXPECT_EQ(screen_text_faults(s, where), "");
    }
    // The |cos|, norms and load page shows three figures; at 1920×1080 the training losses have
    // the load over steps beside them.
    EXPECT_EQ(figures, w == 1920 ? 15 : 14) << size;
    std::vector<std::string> training;
    const auto trained = nlohmann::json::parse(read_text(dir_ / (size + "-2.json")));
    for (const auto& f : trained["figure_text"])
      training.push_back(f["id"].get<std::string>());
    const std::vector<std::string> want = w == 1920
                                              ? std::vector<std::string>{"train", "train-load"}
                                              : std::vector<std::string>{"train"};
    EXPECT_EQ(training, want) << size;
  }
}

} // namespace
} // namespace routerscope
