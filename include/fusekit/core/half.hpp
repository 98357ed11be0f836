#pragma once
// fusekit::half: IEEE binary16 storage type. Conversions round to nearest even and keep NaN, Inf and
// subnormals. Arithmetic happens in float: kernels load half, compute in float, store half.
#include <cstdint>

#include "fusekit/config.hpp"
#include "fusekit/core/bits.hpp"

#if FUSEKIT_VENDOR_CUDA
#include <cuda_fp16.h>
#endif

namespace fusekit {

namespace detail {

// float -> binary16, round to nearest even (portable integer version, used on the host).
FUSEKIT_HOST_DEVICE inline std::uint16_t float_to_half_bits_sw(float f) {
  std::uint32_t x = float_bits(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {  // Inf or NaN: keep NaN quiet and non-zero
    return static_cast<std::uint16_t>(sign | (x == 0x7f800000u ? 0x7c00u : 0x7e00u | ((x >> 13) & 0x3ffu)));
  }
  if (x >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to Inf
  if (x >= 0x38800000u) {  // normal half (>= 2^-14)
    const std::uint32_t odd = (x >> 13) & 1u;
    x += 0xc8000fffu + odd;  // rebias exponent (-112 << 23, mod 2^32) and round half to even
    return static_cast<std::uint16_t>(sign | (x >> 13));
  }
  if (x <= 0x33000000u) return static_cast<std::uint16_t>(sign);  // <= 2^-25 rounds to zero
  // Subnormal half: value = m * 2^(e-150); the result counts units of 2^-24.
  const std::uint32_t e = x >> 23;
  const std::uint32_t m = (x & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126u - e;  // 14..24
  std::uint32_t r = m >> shift;
  const std::uint32_t rem = m & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
  return static_cast<std::uint16_t>(sign | r);
}

FUSEKIT_HOST_DEVICE inline float half_bits_to_float_sw(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (mant << 13));  // Inf/NaN
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);
  // Subnormal: renormalise.
  std::uint32_t e = 113u;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_float(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

FUSEKIT_HOST_DEVICE inline std::uint16_t float_to_half_bits(float f) {
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_CUDA
  return __half_as_ushort(__float2half_rn(f));
#elif FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_HIP
  return __builtin_bit_cast(std::uint16_t, static_cast<_Float16>(f));
#else
  return float_to_half_bits_sw(f);
#endif
}

FUSEKIT_HOST_DEVICE inline float half_bits_to_float(std::uint16_t h) {
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_CUDA
  return __half2float(__ushort_as_half(h));
#elif FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_HIP
  return static_cast<float>(__builtin_bit_cast(_Float16, h));
#else
  return half_bits_to_float_sw(h);
#endif
}

struct from_bits_t {};

}  // namespace detail

struct half {
  std::uint16_t bits;

  half() = default;
  FUSEKIT_HOST_DEVICE explicit half(float f) : bits(detail::float_to_half_bits(f)) {}
  FUSEKIT_HOST_DEVICE explicit half(double d) : half(static_cast<float>(d)) {}
  FUSEKIT_HOST_DEVICE explicit half(int i) : half(static_cast<float>(i)) {}
  FUSEKIT_HOST_DEVICE constexpr half(detail::from_bits_t, std::uint16_t b) : bits(b) {}
  FUSEKIT_HOST_DEVICE explicit operator float() const { return detail::half_bits_to_float(bits); }
  FUSEKIT_HOST_DEVICE explicit operator double() const { return static_cast<double>(static_cast<float>(*this)); }

  static constexpr FUSEKIT_HOST_DEVICE half from_bits(std::uint16_t b) { return half(detail::from_bits_t{}, b); }
};

static_assert(sizeof(half) == 2 && alignof(half) == 2, "half must be 2 bytes");

}  // namespace fusekit
