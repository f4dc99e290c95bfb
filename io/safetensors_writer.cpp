#include "io/safetensors_writer.h"

#include "core/error.h"
#include "io/atomic_file.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace routerscope::io {

void SafetensorsWriter::add_raw(std::string name, DType dtype, std::vector<std::int64_t> shape,
                                std::vector<std::byte> bytes) {
  std::int64_t n = 1;
  for (auto s : shape)
    n *= s;
  std::uint64_t expected = (static_cast<std::uint64_t>(n) * dtype_bits(dtype) + 7) / 8;
  if (bytes.size() != expected)
    throw_internal_error("safetensors writer: tensor " + name + " has " +
                         std::to_string(bytes.size()) + " bytes, its shape needs " +
                         std::to_string(expected));
  tensors_[std::move(name)] = Pending{dtype, std::move(shape), std::move(bytes)};
}

void SafetensorsWriter::add(std::string name, DType dtype, std::vector<std::int64_t> shape,
                            std::span<const float> values) {
  if (!can_encode(dtype))
    throw_internal_error("safetensors writer: cannot encode floats as " +
                         std::string(dtype_name(dtype)) + " (tensor " + name + ")");
  add_raw(std::move(name), dtype, std::move(shape), encode_floats(dtype, values));
}

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty())
    header["__metadata__"] = metadata_;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    header[name] = {{"dtype", dtype_name(t.dtype)},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0)
    text.push_back(' ');
  AtomicFile out(path);
  std::uint64_t n = text.size();
  unsigned char le[8];
  for (int i = 0; i < 8; ++i)
    le[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xffu);
  out.write(le, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : tensors_)
    out.write(t.bytes.data(), t.bytes.size());
  out.commit();
}

} // namespace routerscope::io
