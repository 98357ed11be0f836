#pragma once
// fill(ctx, out, value): every element of `out` (any rank, any strides) becomes `value`, converted to
// out's dtype with round-to-nearest-even.
#include "fusekit/ops/elementwise.hpp"

namespace fusekit {

namespace detail {
template <class T>
struct Constant {
  T value;
  FUSEKIT_HOST_DEVICE T operator()() const { return value; }
};
}  // namespace detail

template <Context Ctx, TensorLike Out>
void fill(Ctx& ctx, Out&& out, double value) {
  auto o = out.view();
  using O = typename decltype(o)::value_type;
  static_assert(!std::is_const_v<typename decltype(o)::element_type>, "fill: the output view is const");
  detail::require_space<Ctx, decltype(o)>();
  detail::run_elementwise<O>(ctx, detail::Constant<O>{convert<O>(value)}, o);
}

}  // namespace fusekit
