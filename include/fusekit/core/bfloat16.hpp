#pragma once
// fusekit::bfloat16: the top 16 bits of an IEEE float. float -> bfloat16 rounds to nearest even,
// NaN stays NaN (quiet), Inf and subnormals are kept; bfloat16 -> float is exact (a shift).
#include <cstdint>

#include "fusekit/config.hpp"
#include "fusekit/core/bits.hpp"
#include "fusekit/core/half.hpp"  // detail::from_bits_t

namespace fusekit {

namespace detail {

FUSEKIT_HOST_DEVICE inline std::uint16_t float_to_bf16_bits(float f) {
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_CUDA && FUSEKIT_CUDA_ARCH >= 800
  // One instruction instead of six: the bandwidth-bound kernels convert every element they store. (A NaN
  // becomes the canonical quiet NaN here, keeping its sign and payload on the host: both are NaN.)
  std::uint16_t r;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f));
  return r;
#else
  const std::uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
  const std::uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>((x + rounding) >> 16);  // overflow into the exponent gives Inf: correct
#endif
}

FUSEKIT_HOST_DEVICE inline float bf16_bits_to_float(std::uint16_t b) {
  return bits_float(static_cast<std::uint32_t>(b) << 16);
}

}  // namespace detail

struct bfloat16 {
  std::uint16_t bits;

  bfloat16() = default;
  FUSEKIT_HOST_DEVICE explicit bfloat16(float f) : bits(detail::float_to_bf16_bits(f)) {}
  FUSEKIT_HOST_DEVICE explicit bfloat16(double d) : bfloat16(static_cast<float>(d)) {}
  FUSEKIT_HOST_DEVICE explicit bfloat16(int i) : bfloat16(static_cast<float>(i)) {}
  FUSEKIT_HOST_DEVICE constexpr bfloat16(detail::from_bits_t, std::uint16_t b) : bits(b) {}
  FUSEKIT_HOST_DEVICE explicit operator float() const { return detail::bf16_bits_to_float(bits); }
  FUSEKIT_HOST_DEVICE explicit operator double() const { return static_cast<double>(static_cast<float>(*this)); }

  static constexpr FUSEKIT_HOST_DEVICE bfloat16 from_bits(std::uint16_t b) {
    return bfloat16(detail::from_bits_t{}, b);
  }
};

static_assert(sizeof(bfloat16) == 2 && alignof(bfloat16) == 2, "bfloat16 must be 2 bytes");

}  // namespace fusekit
