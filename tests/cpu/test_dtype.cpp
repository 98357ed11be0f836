// half and bfloat16 conversions: exhaustive over all 65536 bit patterns one way, and against an
// independent reference (the compiler's _Float16, exact double arithmetic for bfloat16) the other way.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "fusekit/core/dtype.hpp"
#include "fusekit/core/format.hpp"

using fusekit::bfloat16;
using fusekit::half;

namespace {

float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::uint32_t float_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Round-to-nearest-even float -> bfloat16 by comparing the two neighbours in double.
std::uint16_t bf16_reference(float f) {
  const std::uint32_t u = float_to_bits(f);
  if (std::isnan(f)) return 0x7fc0;
  const std::uint16_t lo = static_cast<std::uint16_t>(u >> 16);
  if ((u & 0xffffu) == 0) return lo;
  const std::uint16_t hi = static_cast<std::uint16_t>(lo + 1);  // next magnitude (may be Inf)
  const double vl = bits_to_float(std::uint32_t(lo) << 16);
  // The value above the largest finite bfloat16 is 2^128 with an unbounded exponent (IEEE overflow rule).
  const double vh = (hi & 0x7fff) == 0x7f80 ? std::copysign(std::ldexp(1.0, 128), f)
                                            : static_cast<double>(bits_to_float(std::uint32_t(hi) << 16));
  const double dl = std::fabs(static_cast<double>(f) - vl);
  const double dh = std::fabs(static_cast<double>(f) - vh);
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) ? hi : lo;
}

std::vector<float> probe_floats() {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e-8f, 5.96e-8f,
                          2.98e-8f, 2.9802322e-8f, 2.9802326e-8f, 6.1035156e-5f, 6.1035152e-5f, 3.0517578e-5f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::max(), std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::denorm_min(), 3.3895314e38f, 3.3961775e38f, 1.00390625f,
                          1.01171875f, 1.0009765625f, 1.0029296875f};
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000000; ++i) v.push_back(bits_to_float(rng()));
  for (std::uint32_t u = 0; u < (1u << 24); u += 7) v.push_back(bits_to_float(0x33000000u + u));  // half subnormals
  return v;
}

}  // namespace

TEST(DType, HalfToFloatExhaustive) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const half h = half::from_bits(static_cast<std::uint16_t>(b));
    const float f = static_cast<float>(h);
    const _Float16 ref = std::bit_cast<_Float16>(static_cast<std::uint16_t>(b));
    const float rf = static_cast<float>(ref);
    if (std::isnan(rf)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
    } else {
      ASSERT_EQ(float_to_bits(f), float_to_bits(rf)) << std::hex << b;
      // and back: every half survives the round trip bit for bit
      ASSERT_EQ(half(f).bits, b) << std::hex << b;
    }
  }
}

TEST(DType, FloatToHalfMatchesCompiler) {
  for (float f : probe_floats()) {
    const std::uint16_t ref = std::bit_cast<std::uint16_t>(static_cast<_Float16>(f));
    const std::uint16_t got = half(f).bits;
    if (std::isnan(f)) {
      ASSERT_EQ(got & 0x7c00, 0x7c00);
      ASSERT_NE(got & 0x03ff, 0) << "NaN must stay NaN";
    } else {
      ASSERT_EQ(got, ref) << "f=" << f << " bits=" << std::hex << float_to_bits(f);
    }
  }
}

TEST(DType, BFloat16ExhaustiveAndRounding) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const bfloat16 h = bfloat16::from_bits(static_cast<std::uint16_t>(b));
    const float f = static_cast<float>(h);
    ASSERT_EQ(float_to_bits(f), b << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(bfloat16(f).bits, b);
    }
  }
  for (float f : probe_floats()) {
    const std::uint16_t got = bfloat16(f).bits;
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(static_cast<float>(bfloat16::from_bits(got))));
    } else {
      ASSERT_EQ(got, bf16_reference(f)) << "f=" << f;
    }
  }
}

TEST(DType, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(half(inf).bits, 0x7c00);
  EXPECT_EQ(half(-inf).bits, 0xfc00);
  EXPECT_EQ(half(65520.0f).bits, 0x7c00);  // ties to even: rounds to Inf
  EXPECT_EQ(half(65519.0f).bits, 0x7bff);
  EXPECT_EQ(half(5.9604645e-8f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(half(2.9802322e-8f).bits, 0x0000);  // exactly half of it: ties to even (zero)
  EXPECT_EQ(half(-0.0f).bits, 0x8000);
  EXPECT_EQ(bfloat16(inf).bits, 0x7f80);
  EXPECT_EQ(bfloat16(3.4028235e38f).bits, 0x7f80);  // float max rounds up to Inf in bfloat16
  EXPECT_EQ(bfloat16(1.00390625f).bits, 0x3f80);    // tie -> even
  EXPECT_EQ(bfloat16(1.01171875f).bits, 0x3f82);    // tie -> even (up)
  EXPECT_TRUE(std::isnan(static_cast<float>(bfloat16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(static_cast<float>(half(std::nanf("")))));
}

TEST(DType, NamesSizesAndFormatting) {
  using fusekit::DType;
  EXPECT_EQ(fusekit::dtype_of<bfloat16>, DType::bf16);
  EXPECT_EQ(fusekit::size_of(DType::f16), 2u);
  EXPECT_EQ(fmt::format("{}", DType::bf16), "bf16");
  EXPECT_EQ(fmt::format("{}", half(1.5f)), "1.5");
  EXPECT_EQ(fmt::format("{:.2f}", bfloat16(2.0f)), "2.00");
}

// gpu::FastDivmod (multiply-high division used by GPU index math), checked on the host against `/`:
// every dividend near multiples of each divisor, random dividends, and the range's ends.
#include "fusekit/backend/hip/fast_divmod.hpp"

TEST(FastDivmod, MatchesIntegerDivisionOverItsRange) {
  using fusekit::gpu::FastDivmod;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> dividend(0, 0x7fffffffu);
  std::vector<std::uint32_t> divisors;
  for (std::uint32_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (std::uint32_t k = 12; k < 31; ++k)
    for (std::uint32_t d : {(1u << k) - 1, 1u << k, (1u << k) + 1, (1u << k) + 12345}) divisors.push_back(d);
  divisors.push_back(0x7fffffffu);
  for (std::uint32_t d : divisors) {
    const FastDivmod f(d);
    auto check = [&](std::uint32_t n) {
      if (n > 0x7fffffffu) return;
      ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
    };
    for (std::uint32_t n : {0u, 1u, d - 1, d, d + 1, 0x7fffffffu, 0x7fffffffu - d}) check(n);
    for (std::uint32_t m : {2u, 3u, 1000u, 0x7fffffffu / d}) {
      const std::uint64_t base = std::uint64_t{m} * d;
      if (base <= 0x7fffffffu) {
        check(static_cast<std::uint32_t>(base));
        check(static_cast<std::uint32_t>(base - 1));
      }
    }
    for (int i = 0; i < 200; ++i) check(dividend(rng));
  }
  EXPECT_THROW(FastDivmod(0), fusekit::Error);
  EXPECT_THROW(FastDivmod(0x80000000u), fusekit::Error);
}
