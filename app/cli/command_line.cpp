#include "app/cli/command_line.h"

#include "app/common/demo.h"

#include "core/compute_backend.h"
#include "core/error.h"
#include "core/version.h"
#include "io/atomic_file.h"
#include "io/hub_cache.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <sstream>

namespace routerscope::cli {

CommandLine::CommandLine(std::string name, const std::string& description,
                         const std::string& footer)
    : name_(std::move(name)), app_(description, "routerscope " + name_) {
  app_.set_help_flag("-h,--help", "print this help and exit");
  if (!footer.empty())
    app_.footer("\n" + footer);
  app_.option_defaults()->always_capture_default();
  // An option given twice takes its last value (a script's defaults, then the user's override).
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // Error and help text go through our own exit path (cli::run), never CLI11's exit().
  app_.allow_windows_style_options(false);
}

CLI::Option* CommandLine::add_checkpoint(std::string& path) {
  return app_.add_option("PATH", path,
                         "checkpoint folder, .safetensors, .index.json, Hub repo id "
                         "ORG/NAME[@REVISION] or models--ORG--NAME cache folder (default: the "
                         "bundled demo)");
}

CLI::Option* CommandLine::add_device(std::string& device) {
  CLI::Validator v(
      [](std::string& text) {
        try {
          parse_device(text);
        } catch (const Error& e) {
          std::string message = e.what(); // CLI11 names the option itself
          const std::string prefix = "--device: ";
          return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
        }
        return std::string();
      },
      "auto|cpu|cuda");
  return app_.add_option("--device", device, "compute backend")->check(v);
}

CLI::Option* CommandLine::add_json(bool& json) {
  return app_.add_flag("--json", json, "print a machine-readable JSON summary on stdout");
}

std::optional<int> CommandLine::parse(const Argv& argv) {
  std::vector<std::string> reversed(argv.rbegin(), argv.rend()); // CLI11 pops from the back
  try {
    app_.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app_.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    throw_input_error(name_ + ": " + e.what() + " (see 'routerscope " + name_ + " --help')");
  }
  return std::nullopt;
}

std::string CommandLine::checkpoint(const std::string& path) const {
  return resolve_checkpoint_argument(path, name_);
}

std::string resolve_checkpoint_argument(const std::string& path, const std::string& command) {
  if (path.empty()) {
    const std::string demo = app::default_checkpoint();
    std::fprintf(stderr, "%s: no PATH given, using the bundled demo checkpoint %s\n",
                 command.c_str(), demo.c_str());
    return demo;
  }
  return io::resolve_model_path(path);
}

CLI::Validator one_of(const std::vector<std::string>& choices) {
  std::string names;
  for (std::size_t i = 0; i < choices.size(); ++i)
    names += (i ? "|" : "") + choices[i];
  return CLI::Validator(
      [choices, names](std::string& text) {
        if (std::find(choices.begin(), choices.end(), text) != choices.end())
          return std::string();
        return "expected one of " + names + ", got '" + text + "'";
      },
      names);
}

void write_output(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  io::AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

nlohmann::ordered_json versioned_json() {
  nlohmann::ordered_json j;
  j["routerscope_version"] = routerscope_version();
  return j;
}

} // namespace routerscope::cli
