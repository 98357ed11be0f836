#pragma once
// copy(ctx, dst, src): same memory space, any dtypes (a cast, rounding to nearest even), any strides,
// src broadcast to dst's shape. Host <-> device transfers live in ops/transfer.hpp.
#include "fusekit/ops/elementwise.hpp"

namespace fusekit {

namespace detail {
template <class T>
struct Identity {
  FUSEKIT_HOST_DEVICE T operator()(T v) const { return v; }
};
}  // namespace detail

template <Context Ctx, TensorLike Dst, TensorLike Src>
void copy(Ctx& ctx, Dst&& dst, const Src& src) {
  auto d = dst.view();
  auto s = src.view().as_const();
  static_assert(decltype(d)::rank == decltype(s)::rank, "copy: source and destination must have the same rank");
  static_assert(!std::is_const_v<typename decltype(d)::element_type>, "copy: the destination view is const");
  detail::require_space<Ctx, decltype(d)>();
  detail::require_space<Ctx, decltype(s)>();
  using I = typename decltype(s)::value_type;
  auto in = detail::broadcast_to("copy", "src", s, d.shape());
  detail::run_elementwise<I>(ctx, detail::Identity<I>{}, d, in);
}

}  // namespace fusekit
