// Fuzz target: the hidden-states reader (`train --tokens FILE.h5`, `route --tokens`, the GUI).
#include "fuzz/hdf5_builder.h"
#include "io/run_record.h"

using namespace routerscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::scratch() / "hidden.h5";
  fuzz::Bytes in(data, size);
  fuzz::build_hdf5(path, in);
  fuzz::run_one([&] { io::read_hidden_states(path); });
  return 0;
}
