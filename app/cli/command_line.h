#pragma once
// The shared command-line layer: a subcommand's CLI11 parser with RouterScope's conventions, so
// every command answers -h/--help the same way, checks choices and ranges before any work (exit 2
// naming the option), resolves checkpoint PATHs the same way (files, Hub repo ids, the demo) and
// writes `-` to stdout. Used by app/cli and usable by a GUI (it includes nothing from app/gui).
#include "app/cli/commands.h"
#include "app/common/index_list.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace routerscope::cli {

class CommandLine {
public:
  // `name`: the subcommand; `description`: its one-line purpose; `footer`: longer notes printed
  // after the options by -h/--help.
  CommandLine(std::string name, const std::string& description, const std::string& footer = {});

  CLI::App& app() { return app_; }
  const std::string& name() const { return name_; }

  // The optional positional [PATH]: checkpoint folder, .safetensors, .index.json, a Hub repo id
  // org/name[@revision] or a models--org--name cache folder; empty means the bundled demo.
  CLI::Option* add_checkpoint(std::string& path);
  // --device auto|cpu|cuda, checked with core's parse_device (its message on a bad name).
  CLI::Option* add_device(std::string& device);
  // --json: a machine-readable summary on stdout instead of the table.
  CLI::Option* add_json(bool& json);

  // Parses the arguments after the subcommand name. Returns 0 once -h/--help has printed the
  // help (the command then stops), nullopt to go on. Parse errors are BadInput naming the option.
  std::optional<int> parse(const Argv& argv);

  // The checkpoint a PATH argument names (resolve_checkpoint_argument with this command's name).
  std::string checkpoint(const std::string& path) const;

private:
  std::string name_;
  CLI::App app_;
};

// A PATH argument as a checkpoint path: Hub repo ids and models--… folders resolved through the
// local Hugging Face cache (io/hub_cache.h); empty = the bundled demo, with a one-line note on
// stderr saying so.
std::string resolve_checkpoint_argument(const std::string& path, const std::string& command);

// Choices as a CLI11 validator: a value outside `choices` fails naming them.
CLI::Validator one_of(const std::vector<std::string>& choices);

// Writes `text` to `path` (through a temporary name and a rename), or to stdout when `path` is "-".
void write_output(const std::string& path, const std::string& text);

// "vanilla,mpi" -> {"vanilla", "mpi"} (empty items dropped).
std::vector<std::string> split_list(const std::string& text);

// "0-3,7" -> {0,1,2,3,7}; BadInput naming the text on malformed input (app/common/index_list.h).
using app::parse_index_list;

// A JSON summary that starts with "routerscope_version", the same key in every --json output.
nlohmann::ordered_json versioned_json();

} // namespace routerscope::cli
