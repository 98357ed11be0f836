#pragma once
// Activation functions as functors callable on host and device, in fp32. They are the building blocks
// of the activation op, the gated ops and (later) the GEMM/conv epilogues.
//
// Limits (tested): every function maps NaN to NaN. At +Inf: identity/relu/gelu/silu/softplus/mish give
// +Inf, sigmoid and tanh give 1. At -Inf: relu/gelu/silu/sigmoid/softplus/mish give 0 (sign may be -0),
// tanh gives -1. Inputs far below zero (where the true result underflows fp32) return 0 rather than the
// NaN that a naive formula would produce (-Inf * 0).
#include <cmath>

#include "fusekit/config.hpp"

namespace fusekit::act {

// Functors whose arithmetic (exp, division, erf, tanh) costs about as much as their memory traffic
// declare `static constexpr bool arithmetic_heavy = true`; GPU kernels then give each thread more
// elements (more independent work in flight: on H200, Mish went from 73% to 85% of copy bandwidth with
// 16 instead of 8 f16 elements per thread, while a plain copy went from 95% to 87%).
template <class Op>
constexpr bool arithmetic_heavy() {
  if constexpr (requires { Op::arithmetic_heavy; }) return Op::arithmetic_heavy;
  else return false;
}

namespace detail {
// Past these, the result is x itself (softplus, mish: the correction is below fp32's resolution) or
// underflows to zero (gelu, silu, mish on the negative side).
inline constexpr float linear_above = 20.0f;
inline constexpr float zero_below_gelu = -16.0f;
inline constexpr float zero_below_exp = -104.0f;

// exp and division in device code: the hardware's approximate forms. __expf (ex2.approx after a multiply
// by log2 e) is within 2 + 1.2|x| ulp, under 8e-6 relative for |x| < 104; __fdividef within 2 ulp, and 0
// for divisors above 2^126 (only reached where the exact result is below fp32's normal range). On H200
// these took Mish from 60% to 75% of copy bandwidth: with libm's forms the activations were
// arithmetic-bound. Host code keeps libm.
FUSEKIT_HOST_DEVICE inline float fast_exp(float x) {
#if FUSEKIT_GPU_COMPILE_PHASE
  return __expf(x);
#else
  return ::expf(x);
#endif
}
FUSEKIT_HOST_DEVICE inline float fast_div(float a, float b) {
#if FUSEKIT_GPU_COMPILE_PHASE
  return __fdividef(a, b);
#else
  return a / b;
#endif
}

// 2^x and 1 / x on NVIDIA's special-function unit in the flush-to-zero forms (ex2.approx.ftz, rcp.approx.ftz:
// one MUFU instruction each, about 2 ulp; the forms behind __expf and __fdividef add range fix-ups around
// it). Subnormal inputs count as 0 and subnormal results become 0: callers use them where that cannot
// matter at fp32's precision (a 1 + 2^x divisor). Elsewhere: exp2f and a division.
FUSEKIT_HOST_DEVICE inline float fast_exp2_ftz(float x) {
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_CUDA
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#else
  return ::exp2f(x);
#endif
}
FUSEKIT_HOST_DEVICE inline float fast_rcp_ftz(float x) {
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_CUDA
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#else
  return 1.0f / x;
#endif
}

FUSEKIT_HOST_DEVICE inline float softplus(float x) {
  // max(x, 0) + log1p(exp(-|x|)): no overflow, and slope exactly 1 (resp. 0) far out.
  return (x > 0.0f ? x : 0.0f) + ::log1pf(::expf(-::fabsf(x)));
}

// tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2): one exp and one division, accurate at both
// ends (no 1 - tanh cancellation).
FUSEKIT_HOST_DEVICE inline float tanh_softplus(float x) {
  const float e = fast_exp(x);
  const float n = e * (e + 2.0f);
  return fast_div(n, n + 2.0f);
}

// x * tanh_softplus(min(x, linear_above)) without branches: past linear_above n / (n + 2) rounds to 1, so
// the result is x (+Inf included; NaN stays NaN through the multiply); far below zero e underflows to 0 and
// so does the result, except -Inf * 0: the one case left to a select. (Branch-free: on the GPU this is
// arithmetic-bound next to the memory traffic of Mish and NormAct.)
FUSEKIT_HOST_DEVICE inline float mish_scaled(float x, float k) {
  const float r = x * tanh_softplus(fminf(k * x, linear_above));
  return x == -INFINITY ? -0.0f : r;
}
FUSEKIT_HOST_DEVICE inline float mish(float x) { return mish_scaled(x, 1.0f); }
}  // namespace detail

struct Identity {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return x; }
};

struct Relu {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return x > 0.0f ? x : (x != x ? x : 0.0f); }
};

// 0.5 x (1 + erf(x / sqrt(2)))
struct GeluErf {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    if (x < detail::zero_below_gelu) return -0.0f;
    return 0.5f * x * (1.0f + ::erff(x * 0.70710678118654752f));
  }
};

// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)  (GELU-tanh, "gelu_pytorch_tanh"), computed as
// x * sigmoid(2u) = x / (1 + 2^z), z = -2u log2(e): one exp2 and one reciprocal, and no 1 + tanh
// cancellation for negative x. z = x (c1 + c2 x^2), c1 = -2 sqrt(2/pi) log2(e), c2 = 0.044715 c1: the
// constants folded, three operations before the exp2 (GELU-tanh * up runs at the copy ceiling on H100,
// where every instruction per element shows). Far above zero 2^z underflows to 0 and the result is x
// exactly (+Inf included); far below, the divisor overflows and the result is -0; -Inf (which would give
// -Inf * 0) takes the branch.
struct GeluTanh {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    constexpr float c1 = static_cast<float>(-1.5957691216057308 * 1.4426950408889634);
    constexpr float c2 = static_cast<float>(-0.07135481627260025 * 1.4426950408889634);
    if (x < detail::zero_below_gelu) return -0.0f;
    return x * detail::fast_rcp_ftz(1.0f + detail::fast_exp2_ftz(x * (c1 + c2 * (x * x))));
  }
};

struct Sigmoid {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    if (x != x) return x;
    return detail::fast_div(1.0f, 1.0f + detail::fast_exp(-x));
  }
};

// x * sigmoid(x)
struct Silu {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    if (x < detail::zero_below_exp) return -0.0f;
    return detail::fast_div(x, 1.0f + detail::fast_exp(-x));
  }
};

struct Tanh {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return ::tanhf(x); }
};

// log(1 + e^x), stable for all x
struct Softplus {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return detail::softplus(x); }
};

// x * tanh(softplus(x))
struct Mish {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return detail::mish(x); }
};

// KataGo's fp16 form: activations are stored divided by 8, and mish(8x)/8 = x * tanh(softplus(8x)).
struct MishScale8 {
  static constexpr bool arithmetic_heavy = true;
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return detail::mish_scaled(x, 8.0f); }
};

}  // namespace fusekit::act
