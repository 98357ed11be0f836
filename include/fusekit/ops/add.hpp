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
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike A, TensorLike B>
void add(Ctx& ctx, Out&& out, const A& a, const B& b) {
  auto o = out.view();
  auto va = a.view().as_const();
  auto vb = b.view().as_const();
  static_assert(decltype(o)::rank == decltype(va)::rank && decltype(o)::rank == decltype(vb)::rank,
                "add: out, a and b must have the same rank (add extent-1 dimensions to broadcast)");
  static_assert(!std::is_const_v<typename decltype(o)::element_type>, "add: the output view is const");
  detail::require_space<Ctx, decltype(o)>();
  detail::require_space<Ctx, decltype(va)>();
  detail::require_space<Ctx, decltype(vb)>();
  using C = common_compute_t<typename decltype(va)::value_type, typename decltype(vb)::value_type>;
  auto ia = detail::broadcast_to("add", "a", va, o.shape());
  auto ib = detail::broadcast_to("add", "b", vb, o.shape());
  detail::run_elementwise<C>(ctx, detail::Plus<C>{}, o, ia, ib);
}

}  // namespace fusekit
