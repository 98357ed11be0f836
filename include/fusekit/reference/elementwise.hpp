#pragma once
// Naive float64 references for the elementwise ops: broadcasting add, cast, fill.
#include <array>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

namespace detail {
// Calls fn(index array) for every index of `shape`, row-major.
template <std::size_t R, class Fn>
void for_each_index(const Shape<R>& shape, Fn&& fn) {
  if (numel(shape) == 0) return;
  std::array<index_t, R> idx{};
  while (true) {
    fn(idx);
    std::size_t d = R;
    while (d-- > 0) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
      if (d == 0) return;
    }
  }
}

template <class T, std::size_t R>
double at_broadcast(const HostView<const T, R>& v, const std::array<index_t, R>& idx) {
  index_t off = 0;
  for (std::size_t d = 0; d < R; ++d) off += (v.size(d) == 1 ? 0 : idx[d]) * v.stride(d);
  return static_cast<double>(v.data()[off]);
}
}  // namespace detail

template <class A, class B, std::size_t R>
HostTensor<double, R> add(const HostView<const A, R>& a, const HostView<const B, R>& b, const Shape<R>& out) {
  HostTensor<double, R> y(out);
  auto yv = y.view();
  detail::for_each_index(out, [&](const std::array<index_t, R>& i) {
    index_t off = 0;
    for (std::size_t d = 0; d < R; ++d) off += i[d] * yv.stride(d);
    yv.data()[off] = detail::at_broadcast(a, i) + detail::at_broadcast(b, i);
  });
  return y;
}

// fill: every element is `value` as stored in O (one rounding to nearest even).
template <class O, std::size_t R>
HostTensor<double, R> fill(const Shape<R>& shape, double value) {
  HostTensor<double, R> y(shape);
  const double stored = static_cast<double>(convert<O>(value));
  for (index_t i = 0; i < y.numel(); ++i) y.data()[i] = stored;
  return y;
}

// copy/cast from I to O: each value rounded once into O, returned exactly as double.
template <class O, class I, std::size_t R>
HostTensor<double, R> cast(const HostView<const I, R>& v) {
  HostTensor<double, R> y(v.shape());
  auto yv = y.view();
  detail::for_each_index(v.shape(), [&](const std::array<index_t, R>& i) {
    index_t off = 0, yoff = 0;
    for (std::size_t d = 0; d < R; ++d) {
      off += i[d] * v.stride(d);
      yoff += i[d] * yv.stride(d);
    }
    yv.data()[yoff] = static_cast<double>(convert<O>(v.data()[off]));
  });
  return y;
}

// The exact values of a host tensor or view as double (for comparing casts and copies).
template <class T, std::size_t R>
HostTensor<double, R> to_double(const HostView<T, R>& v) {
  return cast<double, std::remove_const_t<T>, R>(v);
}

}  // namespace fusekit::reference
