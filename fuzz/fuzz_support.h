#pragma once
// Shared pieces of the fuzz targets: the libFuzzer entry point each target defines, the fault
// policy they enforce, a private scratch folder and a reader that turns fuzz bytes into choices.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace routerscope::fuzz {

// Runs one input through `body`. Error(BadInput) is the expected answer to bad bytes; anything
// else escaping (Error(Internal), a foreign exception) breaks the fault policy (exit 1 where the
// CLI must exit 2) and aborts, so that the fuzzer reports the input as a crash.
void run_one(const std::function<void()>& body);

// A folder of this process under the system temporary folder (created once, removed at exit).
const std::filesystem::path& scratch();
void write_file(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size);

// Consumes fuzz bytes front to back; past the end every read returns 0 / empty.
class Bytes {
public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v = v << 8 | u8();
    return v;
  }
  // One of `choices`, picked by the next byte.
  template <class T> const T& pick(const std::vector<T>& choices) {
    return choices[u8() % choices.size()];
  }
  // A double: often a special value (NaN, ±Inf, extremes, 0), else 8 raw bytes.
  double number();
  std::string text(std::size_t max_length);

private:
  const std::uint8_t* data_;
  std::size_t size_, pos_ = 0;
};

} // namespace routerscope::fuzz
