#include "app/gui/script.h"

#include "app/gui/names.h"
#include "core/error.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace routerscope::gui {

namespace {

struct VerbSpec {
  int args;
  const char* form;
};

const std::map<std::string, VerbSpec>& verbs() {
  static const std::map<std::string, VerbSpec> kVerbs = {
      {"open", {1, "open PATH"}},
      {"select", {2, "select LAYER EXPERT"}},
      {"step", {1, "step N"}},
      {"start-step", {1, "start-step N (the script goes on while it runs)"}},
      {"play", {1, "play FRAMES"}},
      {"export", {2, "export FIGURE FILE"}},
      {"export-confirm", {1, "export-confirm replace|cancel"}},
      {"zoom", {-1, "zoom X0 X1 [Y0 Y1]"}},
      {"show", {1, "show FIGURE"}},
      {"export-browse", {1, "export-browse FOLDER"}},
      {"export-browse-open", {1, "export-browse-open NAME"}},
      {"export-browse-choose", {1, "export-browse-choose NAME"}},
      {"view", {1, "view model|expert|mpi|pretrain|series"}},
      {"theme", {1, "theme light|dark"}},
      {"size", {2, "size W H"}},
      {"metric", {1, "metric cos|lambda"}},
      {"smooth", {1, "smooth W (EMA weight in [0, 1); 0: off)"}},
      {"log-y", {1, "log-y on|off"}},
      {"color-range", {1, "color-range figure|auto|robust|unit"}},
      {"train", {1, "train STEPS"}},
      {"start-train", {1, "start-train STEPS (the script goes on while it runs)"}},
      {"pretrain", {1, "pretrain STEPS"}},
      {"start-pretrain", {1, "start-pretrain STEPS (the script goes on while it runs)"}},
      {"browse", {1, "browse FOLDER"}},
      {"browse-hub", {0, "browse-hub"}},
      {"browse-hidden", {1, "browse-hidden on|off"}},
      {"browse-open", {1, "browse-open NAME"}},
      {"key", {1, "key space|right|left|home|end|ctrl+o|ctrl+e|ctrl+q"}},
      {"drop", {1, "drop PATH"}},
      {"follow", {1, "follow PATH"}},
      {"wait-steps", {1, "wait-steps N|+N"}},
      {"state", {1, "state FILE"}},
      {"test-pattern", {1, "test-pattern zigzag"}},
      // -1: one or more (paths separated by spaces).
      {"open-series", {-1, "open-series PATH..."}},
      {"start-series", {-1, "start-series PATH... (the script goes on while it runs)"}},
      {"wait-checkpoints", {1, "wait-checkpoints N"}},
      {"series-cursor", {1, "series-cursor K"}},
      {"series-select", {2, "series-select LAYER EXPERT"}},
      {"series-figure", {1, "series-figure series-alignment|series-norms|series-load"}},
      {"set", {2, "set c-prime|power-steps|matrix|ablation|gating|lr|batch|tokens|variants VALUE"}},
      {"clear-previous", {0, "clear-previous"}},
  };
  return kVerbs;
}

bool is_int(const std::string& s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v >= 0;
}

} // namespace

std::vector<ScriptAction> parse_script(const std::string& text, const std::string& origin) {
  std::vector<ScriptAction> out;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (auto hash = line.find('#'); hash != std::string::npos)
      line.erase(hash);
    std::istringstream words(line);
    ScriptAction a;
    a.line = number;
    if (!(words >> a.verb))
      continue;
    const std::string where = origin + ":" + std::to_string(number) + ": ";
    auto it = verbs().find(a.verb);
    if (it == verbs().end())
      throw_input_error(
          where + "unknown action '" + a.verb +
          "' (expected open, select, step, play, train, pretrain, export, view, theme, size, "
          "metric, smooth, log-y, color-range, zoom, show, export-confirm, export-browse, "
          "export-browse-open, export-browse-choose, browse, browse-hub, browse-hidden, "
          "browse-open, key, drop, follow, "
          "wait-steps, state, test-pattern, open-series, start-series, wait-checkpoints, "
          "series-cursor, series-select, series-figure, set, clear-previous)");
    if (a.verb == "open" || a.verb == "export" || a.verb == "browse" || a.verb == "drop" ||
        a.verb == "export-browse" || a.verb == "export-browse-open" ||
        a.verb == "export-browse-choose" || a.verb == "browse-open" || a.verb == "follow" ||
        a.verb == "state") {
      // The last argument (a path) may contain spaces: it is the rest of the line.
      std::string first, rest;
      if (a.verb == "export")
        words >> first;
      std::getline(words >> std::ws, rest);
      while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\r'))
        rest.pop_back();
      if (a.verb == "export" && !first.empty())
        a.args.push_back(first);
      if (!rest.empty())
        a.args.push_back(rest);
    } else {
      for (std::string w; words >> w;)
        a.args.push_back(w);
    }
    if (it->second.args < 0 ? a.args.empty() : int(a.args.size()) != it->second.args)
      throw_input_error(where + "expected '" + it->second.form + "', found '" + line + "'");
    const bool numeric =
        a.verb == "select" || a.verb == "step" || a.verb == "start-step" || a.verb == "play" ||
        a.verb == "size" || a.verb == "train" || a.verb == "start-train" || a.verb == "pretrain" ||
        a.verb == "start-pretrain" || a.verb == "wait-steps" || a.verb == "wait-checkpoints" ||
        a.verb == "series-cursor" || a.verb == "series-select";
    for (const auto& w : a.args)
      if (numeric && !is_int(a.verb == "wait-steps" && w.starts_with('+') ? w.substr(1) : w))
        throw_input_error(where + "expected a non-negative integer in '" + it->second.form +
                          "', found '" + w + "'");
    auto one_of = [&](std::initializer_list<const char*> ok) {
      for (const char* o : ok)
        if (a.args[0] == o)
          return;
      throw_input_error(where + "expected '" + it->second.form + "', found '" + a.args[0] + "'");
    };
    auto named = [&](auto table) {
      if (!value_of(table, a.args[0]))
        throw_input_error(where + "expected '" + it->second.form + "', found '" + a.args[0] + "'");
    };
    if (a.verb == "view")
      named(kViewNames);
    if (a.verb == "series-figure")
      one_of({"series-alignment", "series-norms", "series-load"});
    if (a.verb == "theme")
      named(kThemeNames);
    if (a.verb == "metric")
      named(kMetricNames);
    if (a.verb == "log-y")
      one_of({"on", "off"});
    if (a.verb == "smooth") {
      char* end = nullptr;
      const double w = std::strtod(a.args[0].c_str(), &end);
      if (end != a.args[0].c_str() + a.args[0].size() || !(w >= 0 && w < 1))
        throw_input_error(where + "expected '" + it->second.form + "', found '" + a.args[0] + "'");
    }
    if (a.verb == "color-range")
      one_of({"figure", "auto", "robust", "unit"});
    if (a.verb == "export-confirm")
      one_of({"replace", "cancel"});
    if (a.verb == "zoom") {
      bool ok = a.args.size() == 2 || a.args.size() == 4;
      std::vector<double> v;
      for (const auto& w : a.args) {
        char* end = nullptr;
        v.push_back(std::strtod(w.c_str(), &end));
        ok = ok && end == w.c_str() + w.size() && std::isfinite(v.back());
      }
      if (!ok || !(v[0] < v[1]) || (v.size() == 4 && !(v[2] < v[3])))
        throw_input_error(where + "expected '" + it->second.form +
                          "' with X0 < X1 and Y0 < Y1, found '" + line + "'");
    }
    if (a.verb == "test-pattern")
      one_of({"zigzag"});
    if (a.verb == "browse-hidden")
      one_of({"on", "off"});
    if (a.verb == "key")
      one_of({"space", "right", "left", "home", "end", "ctrl+o", "ctrl+e", "ctrl+q"});
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<ScriptAction> load_script(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in)
    throw_input_error("cannot read script " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_script(buffer.str(), path.string());
}

} // namespace routerscope::gui
