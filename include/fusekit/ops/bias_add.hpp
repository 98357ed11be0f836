#pragma once
// bias_add(ctx, out, x, bias, axis)            out = x + bias[i_axis]
// bias_add(ctx, out, x, bias, axis, act::Gelu{})  out = act(x + bias[i_axis])
// bias is rank-1 with out's extent along `axis` (the last axis for a linear layer's [tokens, features],
// axis 1 for NCHW channels); x broadcasts to out. fp32 math, one rounding into out (dtypes may differ).
#include "fusekit/ops/activation_functors.hpp"
#include "fusekit/ops/elementwise.hpp"

namespace fusekit {

namespace detail {
template <class Act>
struct BiasAct {
  static constexpr bool arithmetic_heavy = ::fusekit::act::arithmetic_heavy<Act>();
  Act act;
  FUSEKIT_HOST_DEVICE float operator()(float x, float b) const { return act(x + b); }
};
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike B, class Act = act::Identity>
void bias_add(Ctx& ctx, Out&& out, const X& x, const B& bias, std::size_t axis, const Act& f = {}) {
  auto o = out.view();
  auto xv = x.view().as_const();
  auto bv = bias.view().as_const();
  constexpr std::size_t R = decltype(o)::rank;
  static_assert(decltype(xv)::rank == R, "bias_add: out and x must have the same rank");
  static_assert(decltype(bv)::rank == 1, "bias_add: bias must be rank-1");
  static_assert(FloatStorage<typename decltype(o)::element_type> && FloatStorage<typename decltype(xv)::value_type> &&
                    FloatStorage<typename decltype(bv)::value_type>,
                "bias_add: supported dtypes are f32, f16 and bf16 (and out must not be const)");
  detail::require_space<Ctx, decltype(o)>();
  detail::require_space<Ctx, decltype(xv)>();
  detail::require_space<Ctx, decltype(bv)>();
  FUSEKIT_CHECK(axis < R && bv.size(0) == o.size(axis),
                "bias_add: bias of shape {} does not match axis {} of the output shape {}", bv.shape(), axis, o.shape());
  auto ix = detail::broadcast_to("bias_add", "x", xv, o.shape());
  Operand<const typename decltype(bv)::value_type, R> ib{bv.data(), {}, 0};
  ib.strides[axis] = bv.stride(0);
  detail::run_elementwise<float>(ctx, detail::BiasAct<Act>{f}, o, ix, ib);
}

}  // namespace fusekit
