#pragma once
// Index lists as both front ends take them ("0-3,7": the CLI's --layers, the GUI's layer fields).
#include <string>
#include <vector>

namespace routerscope::app {

// "0-3,7" -> {0,1,2,3,7}; BadInput naming `option` and the text on malformed input.
std::vector<int> parse_index_list(const std::string& text, const std::string& option);

} // namespace routerscope::app
