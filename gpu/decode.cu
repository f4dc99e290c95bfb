#include "gpu/cuda_check.h"
#include "gpu/decode.h"

#include <cuda_fp16.h>

#include <string>

namespace routerscope::gpu {

RawDtype parse_raw_dtype(std::string_view name) {
  if (name == "F32")
    return RawDtype::F32;
  if (name == "F16")
    return RawDtype::F16;
  if (name == "BF16")
    return RawDtype::BF16;
  if (name == "F8_E4M3")
    return RawDtype::F8E4M3;
  if (name == "F8_E5M2")
    return RawDtype::F8E5M2;
  if (name == "MXFP4")
    return RawDtype::MXFP4;
  throw_input_error("unsupported dtype " + std::string(name) +
                    " for device decoding (expected F32, F16, BF16, F8_E4M3, F8_E5M2 or MXFP4)");
}

namespace {

__device__ float e4m3_to_float(unsigned v) {
  const unsigned sign = v & 0x80u, exp = (v >> 3) & 0xFu, man = v & 0x7u;
  float f;
  if (exp == 0xFu && man == 0x7u)
    f = __int_as_float(0x7FC00000); // the only NaN of E4M3 (no infinities)
  else if (exp == 0)
    f = ldexpf(float(man), -9); // subnormal: m/8 · 2^-6
  else
    f = ldexpf(float(8 + man), int(exp) - 10); // (1 + m/8) · 2^(e-7)
  return sign ? -f : f;
}

__device__ float e2m1_to_float(unsigned nibble) {
  const float table[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float f = table[nibble & 7u];
  return (nibble & 8u) ? -f : f;
}

__global__ void decode_kernel(RawDtype dtype, const std::uint8_t* data, const float* fp8_scales,
                              const std::uint8_t* mx_scales, int rows, int cols, float* out) {
  const long long n = (long long)rows * cols;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const int r = int(i / cols), c = int(i % cols);
    float v = 0;
    switch (dtype) {
    case RawDtype::F32:
      v = reinterpret_cast<const float*>(data)[i];
      break;
    case RawDtype::F16:
      v = __half2float(reinterpret_cast<const __half*>(data)[i]);
      break;
    case RawDtype::BF16:
      v = __int_as_float(int(unsigned(reinterpret_cast<const std::uint16_t*>(data)[i]) << 16));
      break;
    case RawDtype::F8E4M3:
      v = e4m3_to_float(data[i]);
      break;
    case RawDtype::F8E5M2: // the upper byte of an IEEE half
      v = __half2float(__ushort_as_half((unsigned short)(unsigned(data[i]) << 8)));
      break;
    case RawDtype::MXFP4: {
      const long long block = i / 32; // 32 values per 16-byte block, one scale per block
      const int within = int(i % 32);
      const unsigned byte = data[block * 16 + within / 2];
      const unsigned nibble = (within & 1) ? byte >> 4 : byte & 0xFu;
      v = ldexpf(e2m1_to_float(nibble), int(mx_scales[block]) - 127);
      break;
    }
    }
    if (fp8_scales)
      v *= fp8_scales[(r / 128) * ((cols + 127) / 128) + c / 128];
    out[i] = v;
  }
}

std::size_t element_bytes(RawDtype d) {
  switch (d) {
  case RawDtype::F32:
    return 4;
  case RawDtype::F16:
  case RawDtype::BF16:
    return 2;
  default:
    return 1;
  }
}

} // namespace

std::vector<float> decode_on_device(const RawMatrix& m) {
  const std::size_t n = std::size_t(m.rows) * std::size_t(m.cols);
  const std::string shape = "[" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "]";
  if (m.rows < 0 || m.cols < 0)
    throw_input_error("device decode: negative shape " + shape);
  DeviceBuffer<std::uint8_t> data, scales;
  const float* fp8_scales = nullptr;
  const std::uint8_t* mx_scales = nullptr;
  if (m.dtype == RawDtype::MXFP4) {
    if (m.cols % 32 != 0)
      throw_input_error("device decode: MXFP4 matrix " + shape + " needs cols divisible by 32");
    const std::size_t blocks = n / 32;
    if (m.data.size() != blocks * 16 || m.scales.size() != blocks)
      throw_input_error("device decode: MXFP4 matrix " + shape + " needs " +
                        std::to_string(blocks * 16) + " block bytes and " + std::to_string(blocks) +
                        " scale bytes, found " + std::to_string(m.data.size()) + " and " +
                        std::to_string(m.scales.size()));
  } else {
    if (m.data.size() != n * element_bytes(m.dtype))
      throw_input_error("device decode: matrix " + shape + " needs " +
                        std::to_string(n * element_bytes(m.dtype)) + " bytes, found " +
                        std::to_string(m.data.size()));
    if (!m.scales.empty()) {
      const std::size_t blocks = std::size_t((m.rows + 127) / 128) * ((m.cols + 127) / 128);
      if ((m.dtype != RawDtype::F8E4M3 && m.dtype != RawDtype::F8E5M2) ||
          m.scales.size() != blocks * 4)
        throw_input_error("device decode: block scales of matrix " + shape +
                          " must be F32 [ceil(rows/128), ceil(cols/128)] (" +
                          std::to_string(blocks * 4) + " bytes) on an FP8 matrix, found " +
                          std::to_string(m.scales.size()) + " bytes");
    }
  }
  data.upload(m.data.data(), m.data.size());
  if (!m.scales.empty()) {
    scales.upload(m.scales.data(), m.scales.size());
    if (m.dtype == RawDtype::MXFP4)
      mx_scales = scales.get();
    else
      fp8_scales = reinterpret_cast<const float*>(scales.get());
  }
  DeviceBuffer<float> out(n);
  out.poison();
  std::vector<float> host(n);
  if (n) {
    const int threads = 256;
    const int grid = int(std::min<std::size_t>((n + threads - 1) / threads, 65535));
    decode_kernel<<<grid, threads>>>(m.dtype, data.get(), fp8_scales, mx_scales, m.rows, m.cols,
                                     out.get());
    RS_LAUNCHED("decode_kernel");
    out.download(host.data(), n);
  }
  return host;
}

} // namespace routerscope::gpu
