#include "app/cli/args.h"

#include "core/error.h"

#include <charconv>
#include <cstdlib>
#include <sstream>

namespace routerscope::cli {

Args::Args(std::string command, const std::vector<std::string>& argv,
           std::set<std::string> value_options, std::set<std::string> flags)
    : command_(std::move(command)) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positionals_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (flags.count(name)) {
      if (has_value)
        throw_input_error(command_ + ": option --" + name + " takes no value");
      flags_set_.insert(name);
    } else if (value_options.count(name)) {
      if (!has_value) {
        if (i + 1 >= argv.size())
          throw_input_error(command_ + ": option --" + name + " needs a value");
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      throw_input_error(command_ + ": unknown option --" + name + " (see 'routerscope help " +
                        command_ + "')");
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end())
    return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

int Args::get_int(const std::string& name, int fallback, int min_value, int max_value) const {
  auto v = get(name);
  if (!v)
    return fallback;
  int out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size())
    throw_input_error(command_ + ": --" + name + " expects a whole number, got '" + *v + "'");
  if (out < min_value || out > max_value)
    throw_input_error(command_ + ": --" + name + " must be between " + std::to_string(min_value) +
                      " and " + std::to_string(max_value) + ", got " + *v);
  return out;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto v = get(name);
  if (!v)
    return fallback;
  char* end = nullptr;
  double out = std::strtod(v->c_str(), &end);
  if (v->empty() || end != v->c_str() + v->size())
    throw_input_error(command_ + ": --" + name + " expects a number, got '" + *v + "'");
  return out;
}

void Args::require_positionals(std::size_t min, std::size_t max) const {
  if (positionals_.size() < min || positionals_.size() > max)
    throw_input_error(
        command_ + ": expected " +
        (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) +
        " arguments, got " + std::to_string(positionals_.size()));
}

std::vector<int> parse_index_list(const std::string& text, const std::string& option) {
  std::vector<int> out;
  std::size_t start = 0;
  auto bad = [&]() {
    throw_input_error(option + ": expected a list like '0-3,7', got '" + text + "'");
  };
  auto number = [&](const std::string& s) {
    int v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0)
      bad();
    return v;
  };
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string part =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (auto dash = part.find('-'); dash != std::string::npos) {
      int a = number(part.substr(0, dash)), b = number(part.substr(dash + 1));
      if (b < a)
        bad();
      for (int i = a; i <= b; ++i)
        out.push_back(i);
    } else {
      out.push_back(number(part));
    }
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
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

} // namespace routerscope::cli
