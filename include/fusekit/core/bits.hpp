#pragma once
// Bit casts usable in host and device code (std::bit_cast is not device-callable everywhere).
#include <cstdint>
#include <cstring>

#include "fusekit/config.hpp"

namespace fusekit::detail {

FUSEKIT_HOST_DEVICE inline std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

FUSEKIT_HOST_DEVICE inline float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace fusekit::detail
