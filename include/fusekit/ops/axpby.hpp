#pragma once
// Scaled sums as single fused elementwise passes (fp32 math for 16-bit storage, one rounding into out):
//   axpby(ctx, out, a, b, alpha, beta)   out = alpha * a + beta * b   (a scaled residual add; a and b
//                                        broadcast to out's shape, dtypes may differ: the cast is fused)
//   scale(ctx, out, x, alpha)            out = alpha * x              (scale and cast in one pass)
// Plain residual adds are add(ctx, out, a, b) (ops/add.hpp) and casts copy(ctx, out, x) (ops/copy.hpp).
#include "fusekit/ops/add.hpp"

namespace fusekit {

namespace detail {
template <class C>
struct Axpby {
  C alpha, beta;
  FUSEKIT_HOST_DEVICE C operator()(C a, C b) const { return alpha * a + beta * b; }
};
template <class C>
struct Scale {
  C alpha;
  FUSEKIT_HOST_DEVICE C operator()(C x) const { return alpha * x; }
};
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike A, TensorLike B>
void axpby(Ctx& ctx, Out&& out, const A& a, const B& b, double alpha, double beta) {
  const auto va = a.view().as_const();
  const auto vb = b.view().as_const();
  using C = common_compute_t<typename decltype(va)::value_type, typename decltype(vb)::value_type>;
  detail::binary_elementwise<C>("axpby", ctx, out.view(), va, vb,
                                detail::Axpby<C>{static_cast<C>(alpha), static_cast<C>(beta)});
}

template <Context Ctx, TensorLike Out, TensorLike X>
void scale(Ctx& ctx, Out&& out, const X& x, double alpha) {
  auto o = out.view();
  auto xv = x.view().as_const();
  static_assert(decltype(o)::rank == decltype(xv)::rank, "scale: out and x must have the same rank");
  static_assert(!std::is_const_v<typename decltype(o)::element_type>, "scale: the output view is const");
  detail::require_space<Ctx, decltype(o)>();
  detail::require_space<Ctx, decltype(xv)>();
  using C = compute_t<typename decltype(xv)::value_type>;
  auto ix = detail::broadcast_to("scale", "x", xv, o.shape());
  detail::run_elementwise<C>(ctx, detail::Scale<C>{static_cast<C>(alpha)}, o, ix);
}

}  // namespace fusekit
