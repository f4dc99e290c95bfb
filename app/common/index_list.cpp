#include "app/common/index_list.h"

#include "core/error.h"

#include <charconv>

namespace routerscope::app {

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

} // namespace routerscope::app
