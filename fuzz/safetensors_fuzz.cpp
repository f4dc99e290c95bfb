// Fuzz target: one .safetensors file (header and data). Opening validates the header; every
// tensor small enough is then decoded as the readers would (2-D, or expert 0 of a stacked one).
#include "fuzz/fuzz_support.h"
#include "io/safetensors.h"
#include "io/tensor_decode.h"

using namespace routerscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::scratch() / "input.safetensors";
  fuzz::write_file(path, data, size);
  fuzz::run_one([&] {
    const io::TensorStore store = io::TensorStore::open(path);
    for (const std::string& name : store.names()) {
      const io::TensorInfo& t = store.info(name);
      if (t.numel() > (1 << 16))
        continue;
      io::SliceSpec slice;
      if (t.shape.size() == 3)
        slice.lead = 0;
      fuzz::run_one([&] { io::read_matrix(store, name, slice); });
    }
  });
  return 0;
}
