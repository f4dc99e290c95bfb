#include "app/cli/cli.h"

#include "app/cli/commands.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "core/version.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace routerscope::cli {

std::vector<Command>& command_registry() {
  static std::vector<Command> commands;
  return commands;
}

namespace {

const Command* find_command(const std::string& name) {
  for (const auto& c : command_registry())
    if (name == c.name)
      return &c;
  return nullptr;
}

void print_help() {
  std::printf("RouterScope: router-expert alignment and Manifold Power Iteration for MoE models\n\n"
              "usage: routerscope COMMAND [ARGS]\n\ncommands:\n");
  auto commands = command_registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return std::string(a.name) < b.name; });
  for (const auto& c : commands)
    std::printf("  %-15s %s\n", c.name, c.summary);
  std::printf("\n'routerscope help COMMAND' or 'routerscope COMMAND --help' shows a command's "
              "options;\n'routerscope --version' prints the version. PATH may be a checkpoint "
              "folder or file,\na Hugging Face repo id ORG/NAME[@REVISION] found in the local Hub "
              "cache, or a\nmodels--ORG--NAME cache folder. Exit codes: 0 success, 2 bad input "
              "or usage,\n1 internal error, 130 interrupted (Ctrl-C).\n");
}

bool is_help(const std::string& a) {
  return a == "--help" || a == "-h";
}

// A command's help: its parser's own, which it prints when given --help.
int print_command_help(const Command& c) {
  return c.run({"--help"});
}

} // namespace

int run(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
      // With a display and a GUI build, no arguments opens the GUI on the demo checkpoint.
      if (const Command* gui = find_command("gui"); gui && std::getenv("DISPLAY"))
        return gui->run({});
      print_help();
      return 2;
    }
    const std::string name = args.front();
    args.erase(args.begin());
    if (name == "--version" || name == "version") {
      std::printf("routerscope %s\n", routerscope_version());
      return 0;
    }
    if (name == "help" || is_help(name)) {
      if (!args.empty()) {
        if (const Command* c = find_command(args.front()))
          return print_command_help(*c);
        throw_input_error("unknown command '" + args.front() + "' (see 'routerscope help')");
      }
      print_help();
      return 0;
    }
    const Command* c = find_command(name);
    if (!c)
      throw_input_error("unknown command '" + name + "' (see 'routerscope help')");
    const int rc = c->run(args);
    return rc == 0 && was_interrupted() ? 130 : rc;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Cancelled) { // Ctrl-C reached a command that stops by throwing
      std::fprintf(stderr, "routerscope: interrupted\n");
      return 130;
    }
    std::fprintf(stderr, "routerscope: %s\n", e.what());
    return e.kind() == ErrorKind::BadInput ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "routerscope: internal error: %s\n", e.what());
    return 1;
  }
}

} // namespace routerscope::cli
