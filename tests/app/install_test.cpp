// `cmake --install` into a temporary prefix, then the installed program on its installed demo.
// Oracles: the build tree's own program and demo (the same generator, so the same numbers), the
// install layout freedesktop and Debian expect, and the icon files read back at their sizes.
#include "io/png_image.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace routerscope::test {
namespace {

namespace fs = std::filesystem;

TEST(Install, InstalledProgramRunsOnItsInstalledDemo) {
  TempDir prefix("install");
  const auto install = run_shell(shell_quote(ROUTERSCOPE_CMAKE_COMMAND) + " --install " +
                                 shell_quote(ROUTERSCOPE_BINARY_DIR) + " --prefix " +
                                 shell_quote(prefix.path().string()) + " 2>&1");
  ASSERT_EQ(install.exit_code, 0) << install.out;
  const fs::path exe = prefix / "bin/routerscope";
  ASSERT_TRUE(fs::is_regular_file(exe)) << install.out;
  const fs::path demo = prefix / "share/routerscope/demo";
  ASSERT_TRUE(fs::is_regular_file(demo / "model.safetensors")) << install.out;

  // No PATH: the installed demo (found next to the installed binary), from any folder.
  TempDir elsewhere("cwd");
  const auto run_installed = [&](const std::string& args) {
    return run_shell("cd " + shell_quote(elsewhere.path().string()) + " && " +
                     shell_quote(exe.string()) + " " + args + " 2>" +
                     shell_quote((elsewhere / "err").string()));
  };
  const auto inspect = run_installed("inspect --json");
  ASSERT_EQ(inspect.exit_code, 0) << read_text(elsewhere / "err");
  EXPECT_EQ(fs::canonical(nlohmann::json::parse(inspect.out)["path"].get<std::string>()),
            fs::canonical(demo));
  EXPECT_NE(read_text(elsewhere / "err").find("bundled demo checkpoint"), std::string::npos);

  // The same numbers as the build tree's program on the build tree's demo.
  const auto installed = run_installed("align --layers 0,5 --json --device cpu");
  ASSERT_EQ(installed.exit_code, 0) << read_text(elsewhere / "err");
  const auto built =
      run_routerscope({"align", (fs::path(ROUTERSCOPE_BINARY_DIR) / "assets/demo").string(),
                       "--layers", "0,5", "--json", "--device", "cpu"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  auto a = nlohmann::json::parse(installed.out), b = nlohmann::json::parse(built.out);
  a.erase("path");
  b.erase("path");
  EXPECT_EQ(a, b);
  EXPECT_EQ(run_installed("--version").out, run_routerscope({"--version"}).out);

  // Man page, completions, icon set (and the desktop entry where the GUI is built).
  const std::string man = read_text(prefix / "share/man/man1/routerscope.1");
  EXPECT_NE(man.find(".TH ROUTERSCOPE 1"), std::string::npos);
  EXPECT_NE(man.find(ROUTERSCOPE_EXPECTED_VERSION), std::string::npos); // configured, not "@...@"
  EXPECT_EQ(man.find("@PROJECT_"), std::string::npos);
  EXPECT_EQ(man.find("@ROUTERSCOPE_"), std::string::npos);
  // Every command `routerscope help` lists has its entry (".B name", '-' escaped as in roff).
  std::istringstream help(run_installed("help").out);
  int commands = 0;
  for (std::string line; std::getline(help, line);) {
    if (line.size() < 4 || line.compare(0, 2, "  ") != 0 || !std::islower(line[2]))
      continue;
    std::string name = line.substr(2, line.find(' ', 2) - 2), roff;
    for (char c : name)
      roff += c == '-' ? std::string("\\-") : std::string(1, c);
    ++commands;
    EXPECT_NE(man.find("\n.B " + roff + "\n"), std::string::npos) << "man page lacks " << name;
  }
  EXPECT_GE(commands, 11); // 12 with the GUI built
  EXPECT_TRUE(fs::is_regular_file(prefix / "share/zsh/vendor-completions/_routerscope"));
  for (int size : {16, 32, 48, 64, 128, 256}) {
    const std::string s = std::to_string(size);
    const auto icon =
        io::read_png(prefix / "share/icons/hicolor" / (s + "x" + s) / "apps/routerscope.png");
    EXPECT_EQ(icon.width, size);
    EXPECT_EQ(icon.height, size);
  }
  EXPECT_NE(read_text(prefix / "share/icons/hicolor/scalable/apps/routerscope.svg").find("<svg"),
            std::string::npos);
  if (run_routerscope({"help", "gui"}).exit_code == 0) {
    const std::string desktop = read_text(prefix / "share/applications/routerscope.desktop");
    EXPECT_NE(desktop.find("Exec=routerscope gui %f"), std::string::npos) << desktop;
    EXPECT_NE(desktop.find("Icon=routerscope"), std::string::npos) << desktop;
  }
  EXPECT_TRUE(fs::is_regular_file(prefix / "share/doc/routerscope/README.md"));

  // bash completion, asking the installed program: commands, then a command's options and the
  // choices of one option.
  const fs::path completion = prefix / "share/bash-completion/completions/routerscope";
  auto complete = [&](const std::string& words) {
    const std::string script =
        "PATH=" + shell_quote((prefix / "bin").string()) + ":$PATH; source " +
        shell_quote(completion.string()) + "; COMP_WORDS=(" + words +
        "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _routerscope; echo " + "\"${COMPREPLY[*]}\"";
    return run_shell("bash -c " + shell_quote(script)).out;
  };
  EXPECT_EQ(complete("routerscope al"), "align\n");
  EXPECT_NE(complete("routerscope mpi --st").find("--steps"), std::string::npos);
  EXPECT_EQ(complete("routerscope align --matrix ''"), "gate up down\n");
}

} // namespace
} // namespace routerscope::test
