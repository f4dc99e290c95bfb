// Fuzz target: a sharded checkpoint's model.safetensors.index.json, beside two valid shards
// (tensors a, b in the first, c in the second) written once per process.
#include "fuzz/fuzz_support.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "io/tensor_decode.h"

#include <filesystem>
#include <vector>

using namespace routerscope;

namespace {

const std::filesystem::path& shard_folder() {
  static const std::filesystem::path dir = [] {
    const auto d = fuzz::scratch() / "sharded";
    std::filesystem::create_directories(d);
    const std::vector<float> v = {1, 2, 3, 4, 5, 6};
    io::SafetensorsWriter first, second;
    first.add("a", io::DType::F32, {2, 3}, v);
    first.add("b", io::DType::BF16, {6}, v);
    second.add("c", io::DType::F16, {3, 2}, v);
    first.write(d / "model-00001-of-00002.safetensors");
    second.write(d / "model-00002-of-00002.safetensors");
    return d;
  }();
  return dir;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto index = shard_folder() / "model.safetensors.index.json";
  fuzz::write_file(index, data, size);
  fuzz::run_one([&] {
    const io::TensorStore store = io::TensorStore::open(shard_folder());
    for (const std::string& name : store.names())
      io::read_matrix(store, name);
  });
  return 0;
}
