#pragma once
// Minimal argument parsing for subcommands: positionals plus --name VALUE / --name=VALUE options
// and --flag switches. Unknown options are usage errors (BadInput, exit 2).
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace routerscope::cli {

class Args {
public:
  // `value_options`: options that take a value; `flags`: switches. Both without the leading "--".
  Args(std::string command, const std::vector<std::string>& argv,
       std::set<std::string> value_options, std::set<std::string> flags);

  const std::string& command() const { return command_; }
  const std::vector<std::string>& positionals() const { return positionals_; }
  bool flag(const std::string& name) const { return flags_set_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // Parsed numbers; BadInput naming the option and the text when not a number / out of range.
  int get_int(const std::string& name, int fallback, int min_value, int max_value) const;
  double get_double(const std::string& name, double fallback) const;
  // At most `max` positionals, else BadInput.
  void require_positionals(std::size_t min, std::size_t max) const;

private:
  std::string command_;
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_set_;
};

// "vanilla,mpi" -> {"vanilla", "mpi"} (empty items dropped).
std::vector<std::string> split_list(const std::string& text);

// "0-3,7" -> {0,1,2,3,7}; BadInput naming the text on malformed input.
std::vector<int> parse_index_list(const std::string& text, const std::string& option);

} // namespace routerscope::cli
