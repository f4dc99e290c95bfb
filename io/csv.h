#pragma once
// CSV tables (RFC 4180 quoting), written atomically (temporary name, then rename).
#include <filesystem>
#include <string>
#include <vector>

namespace routerscope::io {

class CsvTable {
public:
  explicit CsvTable(std::vector<std::string> header);
  void add_row(std::vector<std::string> cells); // throws Internal when the width differs
  std::string str() const;
  void write(const std::filesystem::path& path) const;
  std::size_t rows() const { return rows_.size(); }

private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Shortest text that reads back to the same double ("%.17g" trimmed); "nan", "inf" as numpy writes.
std::string format_number(double v);

} // namespace routerscope::io
