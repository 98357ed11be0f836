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

namespace detail {
// Past these, the result is x itself (softplus, mish: the correction is below fp32's resolution) or
// underflows to zero (gelu, silu, mish on the negative side).
inline constexpr float linear_above = 20.0f;
inline constexpr float zero_below_gelu = -16.0f;
inline constexpr float zero_below_exp = -104.0f;

FUSEKIT_HOST_DEVICE inline float softplus(float x) {
  // max(x, 0) + log1p(exp(-|x|)): no overflow, and slope exactly 1 (resp. 0) far out.
  return (x > 0.0f ? x : 0.0f) + ::log1pf(::expf(-::fabsf(x)));
}

// tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2): one exp and one division, accurate at both
// ends (no 1 - tanh cancellation).
FUSEKIT_HOST_DEVICE inline float tanh_softplus(float x) {
  const float e = ::expf(x);
  const float n = e * (e + 2.0f);
  return n / (n + 2.0f);
}

FUSEKIT_HOST_DEVICE inline float mish(float x) {
  if (x > linear_above) return x;          // includes +Inf
  if (x < zero_below_exp) return -0.0f;    // includes -Inf
  return x * tanh_softplus(x);             // NaN stays NaN
}
}  // namespace detail

struct Identity {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return x; }
};

struct Relu {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return x > 0.0f ? x : (x != x ? x : 0.0f); }
};

// 0.5 x (1 + erf(x / sqrt(2)))
struct GeluErf {
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    if (x < detail::zero_below_gelu) return -0.0f;
    return 0.5f * x * (1.0f + ::erff(x * 0.70710678118654752f));
  }
};

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (GELU-tanh, "gelu_pytorch_tanh")
struct GeluTanh {
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    if (x < detail::zero_below_gelu) return -0.0f;
    if (x > detail::linear_above) return x;
    const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + ::tanhf(inner));
  }
};

struct Sigmoid {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return 1.0f / (1.0f + ::expf(-x)); }
};

// x * sigmoid(x)
struct Silu {
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    if (x < detail::zero_below_exp) return -0.0f;
    return x / (1.0f + ::expf(-x));
  }
};

struct Tanh {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return ::tanhf(x); }
};

// log(1 + e^x), stable for all x
struct Softplus {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return detail::softplus(x); }
};

// x * tanh(softplus(x))
struct Mish {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return detail::mish(x); }
};

// KataGo's fp16 form: activations are stored divided by 8, and mish(8x)/8 = x * tanh(softplus(8x)).
struct MishScale8 {
  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    if (8.0f * x > detail::linear_above) return x;
    if (8.0f * x < detail::zero_below_exp) return -0.0f;
    return x * detail::tanh_softplus(8.0f * x);
  }
};

}  // namespace fusekit::act
