#pragma once
// add(ctx, out, a, b): out = a + b with numpy broadcasting (equal rank; extent-1 dimensions stretch).
// Computes in float for half/bfloat16, in the promoted type otherwise; rounds once into out's dtype.
#include "fusekit/ops/elementwise.hpp"

namespace fusekit {

namespace detail {
template <class C>
struct Plus {
  FUSEKIT_HOST_DEVICE C operator()(C a, C b) const { return a + b; }
};

// out = op(a, b) in C with a and b broadcast to out (shared by add and axpby).
template <class C, class Ctx, class O, class VA, class VB, class Op>
void binary_elementwise(const char* name, Ctx& ctx, const O& o, const VA& va, const VB& vb, const Op& op) {
  static_assert(O::rank == VA::rank && O::rank == VB::rank,
                "add/axpby: out, a and b must have the same rank (add extent-1 dimensions to broadcast)");
  static_assert(!std::is_const_v<typename O::element_type>, "add/axpby: the output view is const");
  detail::require_space<Ctx, O>();
  detail::require_space<Ctx, VA>();
  detail::require_space<Ctx, VB>();
  auto ia = detail::broadcast_to(name, "a", va, o.shape());
  auto ib = detail::broadcast_to(name, "b", vb, o.shape());
  detail::run_elementwise<C>(ctx, op, o, ia, ib);
}
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike A, TensorLike B>
void add(Ctx& ctx, Out&& out, const A& a, const B& b) {
  const auto va = a.view().as_const();
  const auto vb = b.view().as_const();
  using C = common_compute_t<typename decltype(va)::value_type, typename decltype(vb)::value_type>;
  detail::binary_elementwise<C>("add", ctx, out.view(), va, vb, detail::Plus<C>{});
}

}  // namespace fusekit
