#pragma once
// One function per subcommand, each in its own cmd_<name>.cpp. Each receives the arguments after
// the subcommand name and returns the exit code; errors are thrown as routerscope::Error.
#include <string>
#include <vector>

namespace routerscope::cli {

using Argv = std::vector<std::string>;

struct Command {
  const char* name;
  const char* summary; // one line for `routerscope help`
  // Parses its arguments with CommandLine (command_line.h), which prints the help on -h/--help.
  int (*run)(const Argv& args);
};

// Every subcommand registers itself with a static Registrar in its own file.
std::vector<Command>& command_registry();
struct Registrar {
  explicit Registrar(Command c) { command_registry().push_back(c); }
};

} // namespace routerscope::cli
