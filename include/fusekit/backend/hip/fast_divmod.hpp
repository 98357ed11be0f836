#pragma once
// Division of 32-bit unsigned indices by a divisor fixed at launch, as a multiply-high and a shift
// (Granlund-Montgomery; the form CUTLASS's FastDivmod uses): a kernel that maps a flat index to
// (row, column) pays a few instructions instead of a ~20-instruction integer division, which shows in
// kernels whose threads live for one load round trip. Valid for dividends below 2^31.
#include <cstdint>

#include "fusekit/backend/hip/vendor.hpp"  // the runtime's __umulhi in GPU passes; nothing in CPU builds
#include "fusekit/config.hpp"
#include "fusekit/core/error.hpp"

namespace fusekit::gpu {

struct FastDivmod {
  std::uint32_t divisor = 1, multiplier = 0, shift = 0;

  FastDivmod() = default;
  explicit FastDivmod(std::uint32_t d) : divisor(d) {
    FUSEKIT_CHECK(d >= 1 && d < (1u << 31), "FastDivmod: divisor {} outside [1, 2^31)", d);
    while ((std::uint32_t{1} << shift) < d) ++shift;
    multiplier = static_cast<std::uint32_t>(((std::uint64_t{1} << 32) * ((std::uint64_t{1} << shift) - d)) / d + 1);
  }

  FUSEKIT_HOST_DEVICE std::uint32_t divisor_value() const { return divisor; }

  // n / divisor for n < 2^31.
  FUSEKIT_HOST_DEVICE std::uint32_t div(std::uint32_t n) const {
    return static_cast<std::uint32_t>((mulhi(n, multiplier) + std::uint64_t{n}) >> shift);
  }

 private:
  FUSEKIT_HOST_DEVICE static std::uint32_t mulhi(std::uint32_t a, std::uint32_t b) {
#if FUSEKIT_GPU_COMPILE_PHASE
    return __umulhi(a, b);
#else
    return static_cast<std::uint32_t>((std::uint64_t{a} * b) >> 32);
#endif
  }
};

}  // namespace fusekit::gpu
