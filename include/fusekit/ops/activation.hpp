#pragma once
// activation(ctx, out, x, act::Mish{}): out = f(x) elementwise for any functor from
// ops/activation_functors.hpp (or your own FUSEKIT_HOST_DEVICE float -> float functor), any rank and
// strides, x broadcast to out's shape; fp32 math, one rounding into out's dtype.
// gated(ctx, out, gate, up, act::Silu{}): out = f(gate) * up (SwiGLU, GeGLU-tanh, ...).
// gated(ctx, out, gate_up, act::GeluTanh{}): the same from one [..., 2n] tensor holding [gate | up].
#include "fusekit/ops/activation_functors.hpp"
#include "fusekit/ops/elementwise.hpp"

namespace fusekit {

namespace detail {
template <class Act>
struct GatedBy {
  static constexpr bool arithmetic_heavy = ::fusekit::act::arithmetic_heavy<Act>();
  Act act;
  FUSEKIT_HOST_DEVICE float operator()(float gate, float up) const { return act(gate) * up; }
};
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike X, class Act>
void activation(Ctx& ctx, Out&& out, const X& x, const Act& f) {
  auto o = out.view();
  auto xv = x.view().as_const();
  static_assert(decltype(o)::rank == decltype(xv)::rank, "activation: out and x must have the same rank");
  static_assert(FloatStorage<typename decltype(o)::element_type> && FloatStorage<typename decltype(xv)::value_type>,
                "activation: supported dtypes are f32, f16 and bf16 (and out must not be const)");
  detail::require_space<Ctx, decltype(o)>();
  detail::require_space<Ctx, decltype(xv)>();
  auto in = detail::broadcast_to("activation", "x", xv, o.shape());
  detail::run_elementwise<float>(ctx, f, o, in);
}

template <Context Ctx, TensorLike Out, TensorLike G, TensorLike U, class Act>
void gated(Ctx& ctx, Out&& out, const G& gate, const U& up, const Act& f) {
  auto o = out.view();
  auto gv = gate.view().as_const();
  auto uv = up.view().as_const();
  static_assert(decltype(o)::rank == decltype(gv)::rank && decltype(o)::rank == decltype(uv)::rank,
                "gated: out, gate and up must have the same rank");
  static_assert(FloatStorage<typename decltype(o)::element_type> && FloatStorage<typename decltype(gv)::value_type> &&
                    FloatStorage<typename decltype(uv)::value_type>,
                "gated: supported dtypes are f32, f16 and bf16 (and out must not be const)");
  detail::require_space<Ctx, decltype(o)>();
  detail::require_space<Ctx, decltype(gv)>();
  detail::require_space<Ctx, decltype(uv)>();
  auto ig = detail::broadcast_to("gated", "gate", gv, o.shape());
  auto iu = detail::broadcast_to("gated", "up", uv, o.shape());
  detail::run_elementwise<float>(ctx, detail::GatedBy<Act>{f}, o, ig, iu);
}

template <Context Ctx, TensorLike Out, TensorLike GU, class Act>
void gated(Ctx& ctx, Out&& out, const GU& gate_up, const Act& f) {
  auto gu = gate_up.view().as_const();
  constexpr std::size_t last = decltype(gu)::rank - 1;
  const index_t n = gu.size(last) / 2;
  FUSEKIT_CHECK(gu.size(last) % 2 == 0, "gated: gate_up of shape {} ({}) must have an even last dimension [gate | up]",
                gu.shape(), dtype_of<typename decltype(gu)::value_type>);
  gated(ctx, out, gu.slice(last, 0, n), gu.slice(last, n, 2 * n), f);
}

}  // namespace fusekit
