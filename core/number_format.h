#pragma once
// How numbers are written for people, the same everywhere (the GUI's sidebar, tooltips, status
// and tables; `inspect`): 4 significant digits, and byte counts in binary units.
#include <cstdint>
#include <string>

namespace routerscope {

// `v` with 4 significant digits, as printf's "%.4g" (and Python's '%.4g') writes it: 0.7399,
// 1.235e-05, 1235, 1.235e+04; "nan", "inf", "-inf" for those.
std::string sig4(double v);

// A byte count in binary units: "512 B" below 1 KiB, else the count in the largest unit of KiB,
// MiB, GiB, TiB that it reaches (1 KiB = 1024 B), with 4 significant digits: "1.5 KiB",
// "18.3 MiB", "1 GiB" (1048575 B, just under 1 MiB, is "1024 KiB").
std::string binary_bytes(std::uint64_t bytes);

} // namespace routerscope
