#include "io/csv.h"

#include "core/error.h"
#include "io/atomic_file.h"

#include <charconv>
#include <cmath>

namespace routerscope::io {

CsvTable::CsvTable(std::vector<std::string> header) : header_(std::move(header)) {}

void CsvTable::add_row(std::vector<std::string> cells) {
  if (cells.size() != header_.size())
    throw_internal_error("CSV row has " + std::to_string(cells.size()) + " cells, header has " +
                         std::to_string(header_.size()));
  rows_.push_back(std::move(cells));
}

static void append_cell(std::string& out, const std::string& cell) {
  if (cell.find_first_of(",\"\n\r") == std::string::npos) {
    out += cell;
    return;
  }
  out += '"';
  for (char c : cell) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
}

std::string CsvTable::str() const {
  std::string out;
  auto line = [&out](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i)
        out += ',';
      append_cell(out, cells[i]);
    }
    out += '\n';
  };
  line(header_);
  for (const auto& r : rows_)
    line(r);
  return out;
}

void CsvTable::write(const std::filesystem::path& path) const {
  std::string text = str();
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

std::string format_number(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v); // shortest round-trip form
  if (ec != std::errc())
    return "nan";
  return std::string(buf, p);
}

} // namespace routerscope::io
